// GOV.UK Frontend's components (error summary focus, details, buttons), as published.
import { initAll } from "/console/static/govuk/govuk-frontend.min.js";

initAll();
