// The evaluators' page works without this script; it only keeps the "Over" choices in step
// with "Show by" (weeks or months), picking that period's usual range when it changes.
(function () {
  "use strict";
  const period = document.getElementById("period");
  const count = document.getElementById("count");
  if (!period || !count) return;
  const usual = { week: "26", month: "12" };

  function sync(changed) {
    let selectedFits = false;
    for (const option of count.options) {
      const fits = option.dataset.period === period.value;
      option.hidden = !fits;
      option.disabled = !fits;
      if (fits && option.selected) selectedFits = true;
    }
    if (changed || !selectedFits) {
      for (const option of count.options) {
        if (option.dataset.period === period.value && option.value === usual[period.value]) {
          option.selected = true;
        }
      }
    }
  }

  period.addEventListener("change", function () { sync(true); });
  sync(false);
})();
