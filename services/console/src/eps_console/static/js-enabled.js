// GOV.UK Frontend's "JavaScript is on" classes (a file, not inline: the pages' CSP allows no
// inline script).
document.body.className += ' js-enabled' + ('noModule' in HTMLScriptElement.prototype ? ' govuk-frontend-supported' : '');
