(function(){
"use strict";
var PAGE = 100;
var collator = new Intl.Collator(undefined, {numeric: true, sensitivity: "base"});
var tables = Array.prototype.slice.call(document.querySelectorAll("table.data"));
var search = document.getElementById("search-all");
var facetBar = document.getElementById("facet");
var facet = null;
function cellText(row, i){
  var c = row.cells[i];
  if (!c){ return ""; }
  return (c.hasAttribute("data-v") ? c.getAttribute("data-v") : c.textContent).trim();
}
function rowsOf(table){ return Array.prototype.slice.call(table.tBodies[0].rows); }
function matches(row, table){
  var text = row.textContent.toLowerCase();
  var q = search ? search.value.trim().toLowerCase() : "";
  if (q && text.indexOf(q) < 0){ return false; }
  var local = table.getAttribute("data-filter") || "";
  if (local && text.indexOf(local) < 0){ return false; }
  if (facet){
    var v = row.getAttribute("data-" + facet.key);
    if (v === null || v.split(";").indexOf(facet.value) < 0){ return false; }
  }
  return true;
}
function render(table){
  var rows = rowsOf(table), matched = [];
  rows.forEach(function(r){ if (matches(r, table)){ matched.push(r); } r.hidden = true; });
  var pages = Math.max(1, Math.ceil(matched.length / PAGE));
  var page = Math.min(parseInt(table.getAttribute("data-page") || "0", 10), pages - 1);
  table.setAttribute("data-page", page);
  matched.slice(page * PAGE, (page + 1) * PAGE).forEach(function(r){ r.hidden = false; });
  table.setAttribute("data-matched", matched.length);
  var out = document.querySelector('.count[data-for="' + table.id + '"]');
  if (out){
    var unit = rows.length === 1 ? " row" : " rows";
    out.textContent = matched.length === rows.length ? rows.length.toLocaleString() + unit
      : matched.length.toLocaleString() + " of " + rows.length.toLocaleString() + " rows match";
  }
  var pager = document.querySelector('.pager[data-for="' + table.id + '"]');
  if (pager){
    pager.hidden = pages < 2;
    pager.querySelector(".page").textContent = "rows " + (matched.length ? page * PAGE + 1 : 0)
      + "\u2013" + Math.min((page + 1) * PAGE, matched.length) + " of " + matched.length
      + " (page " + (page + 1) + " of " + pages + ")";
    pager.querySelector(".prev").disabled = page === 0;
    pager.querySelector(".next").disabled = page >= pages - 1;
  }
}
function renderAll(){
  tables.forEach(render);
  if (facetBar){
    facetBar.hidden = !facet;
    if (facet){
      facetBar.querySelector(".what").textContent = facet.key + " " + facet.value;
      var n = 0;
      tables.forEach(function(t){ n += parseInt(t.getAttribute("data-matched") || "0", 10); });
      facetBar.querySelector(".n").textContent = n.toLocaleString();
    }
  }
  document.documentElement.setAttribute("data-filtered-by", facet ? facet.key + ":" + facet.value : "");
}
function sortTable(table, key, desc){
  var ths = table.tHead.rows[0].cells, idx = -1;
  for (var i = 0; i < ths.length; i++){
    if (ths[i].getAttribute("data-key") === key){ idx = i; }
    ths[i].setAttribute("aria-sort", "none");
  }
  if (idx < 0){ return false; }
  var numeric = ths[idx].classList.contains("num");
  var body = table.tBodies[0], rows = rowsOf(table);
  rows.forEach(function(r, n){ if (!r.hasAttribute("data-i")){ r.setAttribute("data-i", n); } });
  rows.sort(function(a, b){
    var x = cellText(a, idx), y = cellText(b, idx), r;
    if (x === "" || y === ""){ r = (x === "") - (y === ""); if (r){ return r; } }
    if (numeric && x !== "" && y !== ""){ r = parseFloat(x) - parseFloat(y); }
    else { r = collator.compare(x, y); }
    if (desc){ r = -r; }
    return r || (a.getAttribute("data-i") - b.getAttribute("data-i"));
  });
  rows.forEach(function(r){ body.appendChild(r); });
  ths[idx].setAttribute("aria-sort", desc ? "descending" : "ascending");
  table.setAttribute("data-sorted", (desc ? "-" : "") + key);
  render(table);
  return true;
}
function setFacet(spec){
  var at = spec.indexOf(":");
  var next = {key: spec.slice(0, at), value: spec.slice(at + 1)};
  facet = facet && facet.key === next.key && facet.value === next.value ? null : next;
  tables.forEach(function(t){ t.setAttribute("data-page", 0); });
  renderAll();
  if (facet){
    var first = tables.filter(function(t){ return t.getAttribute("data-matched") !== "0"; })[0];
    if (first){
      var d = first.closest("details"); if (d){ d.open = true; }
      first.closest("section").scrollIntoView();
    }
  }
}
function csvCell(v){
  if (/^[=+\-@\t\r]/.test(v)){ v = "'" + v; }
  return '"' + v.replace(/"/g, '""') + '"';
}
function download(table){
  var heads = Array.prototype.map.call(table.tHead.rows[0].cells,
                                       function(th){ return csvCell(th.textContent.trim()); });
  var lines = [heads.join(",")];
  rowsOf(table).forEach(function(r){
    if (!matches(r, table)){ return; }
    var cells = [];
    for (var i = 0; i < r.cells.length; i++){ cells.push(csvCell(cellText(r, i))); }
    lines.push(cells.join(","));
  });
  var blob = new Blob(["\ufeff" + lines.join("\r\n") + "\r\n"], {type: "text/csv"});
  var a = document.createElement("a");
  a.href = URL["createObjectURL"](blob);
  a.download = table.id + "-shown.csv";
  document.body.appendChild(a);
  a.click();
  a.remove();
}
tables.forEach(function(table){
  Array.prototype.forEach.call(table.tHead.rows[0].cells, function(th){
    function go(){
      sortTable(table, th.getAttribute("data-key"), th.getAttribute("aria-sort") === "ascending");
    }
    th.addEventListener("click", go);
    th.addEventListener("keydown", function(e){
      if (e.key === "Enter" || e.key === " "){ e.preventDefault(); go(); }
    });
  });
});
Array.prototype.forEach.call(document.querySelectorAll("input.filter"), function(input){
  var table = document.getElementById(input.getAttribute("data-table"));
  input.addEventListener("input", function(){
    table.setAttribute("data-filter", input.value.trim().toLowerCase());
    table.setAttribute("data-page", 0);
    render(table);
  });
});
if (search){
  search.addEventListener("input", function(){
    tables.forEach(function(t){ t.setAttribute("data-page", 0); });
    renderAll();
  });
}
Array.prototype.forEach.call(document.querySelectorAll(".pager"), function(pager){
  var table = document.getElementById(pager.getAttribute("data-for"));
  function move(by){
    table.setAttribute("data-page", parseInt(table.getAttribute("data-page") || "0", 10) + by);
    render(table);
  }
  pager.querySelector(".prev").addEventListener("click", function(){ move(-1); });
  pager.querySelector(".next").addEventListener("click", function(){ move(1); });
});
Array.prototype.forEach.call(document.querySelectorAll("button.dl"), function(button){
  button.addEventListener("click", function(){
    download(document.getElementById(button.getAttribute("data-table")));
  });
});
document.addEventListener("click", function(e){
  var el = e.target.closest ? e.target.closest("[data-facet]") : null;
  if (el){ setFacet(el.getAttribute("data-facet")); }
});
if (facetBar){
  facetBar.querySelector("button").addEventListener("click", function(){
    facet = null; renderAll();
  });
}
function fromHash(){
  var params = new URLSearchParams(location.hash.replace(/^#/, ""));
  params.getAll("sort").forEach(function(spec){
    var desc = spec.charAt(0) === "-", name = desc ? spec.slice(1) : spec;
    var dot = name.indexOf("."), only = dot > 0 ? name.slice(0, dot) : null;
    var key = dot > 0 ? name.slice(dot + 1) : name;
    tables.forEach(function(t){
      if (only === null || t.id === only){ sortTable(t, key, desc); }
    });
  });
  var q = params.get("q");
  if (q !== null && search){ search.value = q; }
  var f = params.get("facet");
  if (f){ facet = null; setFacet(f); }
  renderAll();
}
renderAll();
if (location.hash){ fromHash(); }
window.addEventListener("hashchange", fromHash);
document.documentElement.setAttribute("data-report", "ready");
})();
