// Keyboard shortcuts for the console, the only script it loads (served from the binary; the
// CSP allows no other). Every action also works without it: these keys only press the
// buttons and focus the fields marked with `data-key` on the page.
//   n  take the next unclaimed task     c  claim this task
//   a  approve (opens the preview)      d  decline (goes to the reason)
// Keys typed into a field, or with Ctrl, Alt or Meta, are left alone.
"use strict";
document.addEventListener("keydown", function (event) {
  if (event.ctrlKey || event.altKey || event.metaKey || event.defaultPrevented) return;
  var target = event.target;
  if (target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))) return;
  var marked = document.querySelectorAll('[data-key="' + event.key + '"]');
  if (marked.length === 0) return;
  // The page's own control comes after the header's (e.g. the queue's filtered "next").
  var element = marked[marked.length - 1];
  event.preventDefault();
  if (element.tagName === "BUTTON" && element.form) {
    element.form.requestSubmit(element);
  } else {
    element.focus();
    element.scrollIntoView({ block: "center" });
  }
});
