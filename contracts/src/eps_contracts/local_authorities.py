"""The local authorities the platform knows: England's 153 local authorities with education
responsibilities (each runs, or commissions, an Educational Psychology Service).

Each has an ``id``, the one every event's ``tenant`` and every bearer token's ``la`` claim carry:
its name in lower case, words joined by hyphens (``Stoke-on-Trent`` is ``stoke-on-trent``,
``St. Helens`` is ``st-helens``, ``Bristol, City of`` is ``bristol``), except that the three
cities whose county is named after them add ``-city`` (``leicester-city``, ``nottingham-city``,
``derby-city``), so that a city's id is never the start of its county's (``leicestershire``).
``code`` is the DfE's three-digit number for the authority (Get Information about Schools, the
school census); ``name`` is the DfE's name for it. An id is never renamed or reused: a new
authority (a reorganisation) is a new row.

This is the platform's answer to "which LA identifiers exist". An event or a token naming any
other id is refused wherever it arrives (dead-lettered, or 401), and a deployment narrows the
set to the authorities it serves (``EPS_LOCAL_AUTHORITIES``; see ``eps_chassis.tenancy``). The
same table for integrators who do not read Python: ``contracts/local-authorities.csv``, kept
equal to this module by the tests.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LocalAuthority:
    id: str
    """The platform's id for it: an event's ``tenant``, a token's ``la``."""
    code: int
    """The DfE's three-digit local authority number, e.g. 856 for Leicester."""
    name: str
    """The DfE's name for it."""


LOCAL_AUTHORITIES: tuple[LocalAuthority, ...] = (
    LocalAuthority("barking-and-dagenham", 301, "Barking and Dagenham"),
    LocalAuthority("barnet", 302, "Barnet"),
    LocalAuthority("barnsley", 370, "Barnsley"),
    LocalAuthority("bath-and-north-east-somerset", 800, "Bath and North East Somerset"),
    LocalAuthority("bedford", 822, "Bedford"),
    LocalAuthority("bexley", 303, "Bexley"),
    LocalAuthority("birmingham", 330, "Birmingham"),
    LocalAuthority("blackburn-with-darwen", 889, "Blackburn with Darwen"),
    LocalAuthority("blackpool", 890, "Blackpool"),
    LocalAuthority("bolton", 350, "Bolton"),
    LocalAuthority(
        "bournemouth-christchurch-and-poole", 839, "Bournemouth, Christchurch and Poole"
    ),
    LocalAuthority("bracknell-forest", 867, "Bracknell Forest"),
    LocalAuthority("bradford", 380, "Bradford"),
    LocalAuthority("brent", 304, "Brent"),
    LocalAuthority("brighton-and-hove", 846, "Brighton and Hove"),
    LocalAuthority("bristol", 801, "Bristol, City of"),
    LocalAuthority("bromley", 305, "Bromley"),
    LocalAuthority("buckinghamshire", 825, "Buckinghamshire"),
    LocalAuthority("bury", 351, "Bury"),
    LocalAuthority("calderdale", 381, "Calderdale"),
    LocalAuthority("cambridgeshire", 873, "Cambridgeshire"),
    LocalAuthority("camden", 202, "Camden"),
    LocalAuthority("central-bedfordshire", 823, "Central Bedfordshire"),
    LocalAuthority("cheshire-east", 895, "Cheshire East"),
    LocalAuthority("cheshire-west-and-chester", 896, "Cheshire West and Chester"),
    LocalAuthority("city-of-london", 201, "City of London"),
    LocalAuthority("cornwall", 908, "Cornwall"),
    LocalAuthority("county-durham", 840, "County Durham"),
    LocalAuthority("coventry", 331, "Coventry"),
    LocalAuthority("croydon", 306, "Croydon"),
    LocalAuthority("cumberland", 942, "Cumberland"),
    LocalAuthority("darlington", 841, "Darlington"),
    LocalAuthority("derby-city", 831, "Derby"),
    LocalAuthority("derbyshire", 830, "Derbyshire"),
    LocalAuthority("devon", 878, "Devon"),
    LocalAuthority("doncaster", 371, "Doncaster"),
    LocalAuthority("dorset", 838, "Dorset"),
    LocalAuthority("dudley", 332, "Dudley"),
    LocalAuthority("ealing", 307, "Ealing"),
    LocalAuthority("east-riding-of-yorkshire", 811, "East Riding of Yorkshire"),
    LocalAuthority("east-sussex", 845, "East Sussex"),
    LocalAuthority("enfield", 308, "Enfield"),
    LocalAuthority("essex", 881, "Essex"),
    LocalAuthority("gateshead", 390, "Gateshead"),
    LocalAuthority("gloucestershire", 916, "Gloucestershire"),
    LocalAuthority("greenwich", 203, "Greenwich"),
    LocalAuthority("hackney", 204, "Hackney"),
    LocalAuthority("halton", 876, "Halton"),
    LocalAuthority("hammersmith-and-fulham", 205, "Hammersmith and Fulham"),
    LocalAuthority("hampshire", 850, "Hampshire"),
    LocalAuthority("haringey", 309, "Haringey"),
    LocalAuthority("harrow", 310, "Harrow"),
    LocalAuthority("hartlepool", 805, "Hartlepool"),
    LocalAuthority("havering", 311, "Havering"),
    LocalAuthority("herefordshire", 884, "Herefordshire, County of"),
    LocalAuthority("hertfordshire", 919, "Hertfordshire"),
    LocalAuthority("hillingdon", 312, "Hillingdon"),
    LocalAuthority("hounslow", 313, "Hounslow"),
    LocalAuthority("isle-of-wight", 921, "Isle of Wight"),
    LocalAuthority("isles-of-scilly", 420, "Isles of Scilly"),
    LocalAuthority("islington", 206, "Islington"),
    LocalAuthority("kensington-and-chelsea", 207, "Kensington and Chelsea"),
    LocalAuthority("kent", 886, "Kent"),
    LocalAuthority("kingston-upon-hull", 810, "Kingston upon Hull, City of"),
    LocalAuthority("kingston-upon-thames", 314, "Kingston upon Thames"),
    LocalAuthority("kirklees", 382, "Kirklees"),
    LocalAuthority("knowsley", 340, "Knowsley"),
    LocalAuthority("lambeth", 208, "Lambeth"),
    LocalAuthority("lancashire", 888, "Lancashire"),
    LocalAuthority("leeds", 383, "Leeds"),
    LocalAuthority("leicester-city", 856, "Leicester"),
    LocalAuthority("leicestershire", 855, "Leicestershire"),
    LocalAuthority("lewisham", 209, "Lewisham"),
    LocalAuthority("lincolnshire", 925, "Lincolnshire"),
    LocalAuthority("liverpool", 341, "Liverpool"),
    LocalAuthority("luton", 821, "Luton"),
    LocalAuthority("manchester", 352, "Manchester"),
    LocalAuthority("medway", 887, "Medway"),
    LocalAuthority("merton", 315, "Merton"),
    LocalAuthority("middlesbrough", 806, "Middlesbrough"),
    LocalAuthority("milton-keynes", 826, "Milton Keynes"),
    LocalAuthority("newcastle-upon-tyne", 391, "Newcastle upon Tyne"),
    LocalAuthority("newham", 316, "Newham"),
    LocalAuthority("norfolk", 926, "Norfolk"),
    LocalAuthority("north-east-lincolnshire", 812, "North East Lincolnshire"),
    LocalAuthority("north-lincolnshire", 813, "North Lincolnshire"),
    LocalAuthority("north-northamptonshire", 940, "North Northamptonshire"),
    LocalAuthority("north-somerset", 802, "North Somerset"),
    LocalAuthority("north-tyneside", 392, "North Tyneside"),
    LocalAuthority("north-yorkshire", 815, "North Yorkshire"),
    LocalAuthority("northumberland", 929, "Northumberland"),
    LocalAuthority("nottingham-city", 892, "Nottingham"),
    LocalAuthority("nottinghamshire", 891, "Nottinghamshire"),
    LocalAuthority("oldham", 353, "Oldham"),
    LocalAuthority("oxfordshire", 931, "Oxfordshire"),
    LocalAuthority("peterborough", 874, "Peterborough"),
    LocalAuthority("plymouth", 879, "Plymouth"),
    LocalAuthority("portsmouth", 851, "Portsmouth"),
    LocalAuthority("reading", 870, "Reading"),
    LocalAuthority("redbridge", 317, "Redbridge"),
    LocalAuthority("redcar-and-cleveland", 807, "Redcar and Cleveland"),
    LocalAuthority("richmond-upon-thames", 318, "Richmond upon Thames"),
    LocalAuthority("rochdale", 354, "Rochdale"),
    LocalAuthority("rotherham", 372, "Rotherham"),
    LocalAuthority("rutland", 857, "Rutland"),
    LocalAuthority("salford", 355, "Salford"),
    LocalAuthority("sandwell", 333, "Sandwell"),
    LocalAuthority("sefton", 343, "Sefton"),
    LocalAuthority("sheffield", 373, "Sheffield"),
    LocalAuthority("shropshire", 893, "Shropshire"),
    LocalAuthority("slough", 871, "Slough"),
    LocalAuthority("solihull", 334, "Solihull"),
    LocalAuthority("somerset", 933, "Somerset"),
    LocalAuthority("south-gloucestershire", 803, "South Gloucestershire"),
    LocalAuthority("south-tyneside", 393, "South Tyneside"),
    LocalAuthority("southampton", 852, "Southampton"),
    LocalAuthority("southend-on-sea", 882, "Southend-on-Sea"),
    LocalAuthority("southwark", 210, "Southwark"),
    LocalAuthority("st-helens", 342, "St. Helens"),
    LocalAuthority("staffordshire", 860, "Staffordshire"),
    LocalAuthority("stockport", 356, "Stockport"),
    LocalAuthority("stockton-on-tees", 808, "Stockton-on-Tees"),
    LocalAuthority("stoke-on-trent", 861, "Stoke-on-Trent"),
    LocalAuthority("suffolk", 935, "Suffolk"),
    LocalAuthority("sunderland", 394, "Sunderland"),
    LocalAuthority("surrey", 936, "Surrey"),
    LocalAuthority("sutton", 319, "Sutton"),
    LocalAuthority("swindon", 866, "Swindon"),
    LocalAuthority("tameside", 357, "Tameside"),
    LocalAuthority("telford-and-wrekin", 894, "Telford and Wrekin"),
    LocalAuthority("thurrock", 883, "Thurrock"),
    LocalAuthority("torbay", 880, "Torbay"),
    LocalAuthority("tower-hamlets", 211, "Tower Hamlets"),
    LocalAuthority("trafford", 358, "Trafford"),
    LocalAuthority("wakefield", 384, "Wakefield"),
    LocalAuthority("walsall", 335, "Walsall"),
    LocalAuthority("waltham-forest", 320, "Waltham Forest"),
    LocalAuthority("wandsworth", 212, "Wandsworth"),
    LocalAuthority("warrington", 877, "Warrington"),
    LocalAuthority("warwickshire", 937, "Warwickshire"),
    LocalAuthority("west-berkshire", 869, "West Berkshire"),
    LocalAuthority("west-northamptonshire", 941, "West Northamptonshire"),
    LocalAuthority("west-sussex", 938, "West Sussex"),
    LocalAuthority("westminster", 213, "Westminster"),
    LocalAuthority("westmorland-and-furness", 943, "Westmorland and Furness"),
    LocalAuthority("wigan", 359, "Wigan"),
    LocalAuthority("wiltshire", 865, "Wiltshire"),
    LocalAuthority("windsor-and-maidenhead", 868, "Windsor and Maidenhead"),
    LocalAuthority("wirral", 344, "Wirral"),
    LocalAuthority("wokingham", 872, "Wokingham"),
    LocalAuthority("wolverhampton", 336, "Wolverhampton"),
    LocalAuthority("worcestershire", 885, "Worcestershire"),
    LocalAuthority("york", 816, "York"),
)

_BY_ID = {la.id: la for la in LOCAL_AUTHORITIES}


def local_authority(la_id: str) -> LocalAuthority | None:
    """The local authority with this id, if there is one."""
    return _BY_ID.get(la_id)


def closest_id(la_id: str) -> str | None:
    """The known id most like ``la_id`` (a typo's likely meaning), if any is close."""
    found = difflib.get_close_matches(la_id, _BY_ID, n=1, cutoff=0.8)
    return found[0] if found else None
