// Labels: t(key, vars) looks a key up in the active language and fills {placeholders}; applyLabels() fills every
// element marked data-i18n="key" (text) or data-i18n-attr="attr:key;attr:key" (attributes). Text only: labels are
// set with textContent / setAttribute, never parsed as HTML.
import zh from "../i18n/zh.js";

const LANGUAGES = { zh };
let labels = LANGUAGES.zh;

export function setLanguage(code) {
  labels = LANGUAGES[code] || LANGUAGES.zh;
}

export function t(key, vars = {}) {
  const text = Object.prototype.hasOwnProperty.call(labels, key) ? labels[key] : key;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in vars ? String(vars[name]) : whole));
}

export function applyLabels(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) {
    el.textContent = t(el.dataset.i18n);
  }
  for (const el of root.querySelectorAll("[data-i18n-attr]")) {
    for (const pair of el.dataset.i18nAttr.split(";")) {
      const [attr, key] = pair.split(":");
      if (attr && key) el.setAttribute(attr.trim(), t(key.trim()));
    }
  }
}
