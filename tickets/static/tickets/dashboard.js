/* Dashboard charts (Chart.js, served from our static files). Data comes from a json_script tag. */
(function () {
  "use strict";
  function draw() {
    var node = document.getElementById("dashboard-data");
    if (!node || typeof Chart === "undefined") { return; }
    var data = JSON.parse(node.textContent);
    var common = {responsive: true, maintainAspectRatio: false, animation: false};
    new Chart(document.getElementById("chart-per-day"), {
      type: "bar",
      data: {labels: data.per_day.labels, datasets: [{label: "Заявок", data: data.per_day.values, backgroundColor: "#1565c0"}]},
      options: Object.assign({plugins: {legend: {display: false}}, scales: {y: {beginAtZero: true, ticks: {precision: 0}}}}, common)
    });
    new Chart(document.getElementById("chart-sentiment"), {
      type: "doughnut",
      data: {labels: data.sentiment.labels, datasets: [{data: data.sentiment.values, backgroundColor: data.sentiment.colors}]},
      options: common
    });
    new Chart(document.getElementById("chart-devices"), {
      type: "bar",
      data: {labels: data.devices.labels, datasets: [{label: "Заявок", data: data.devices.values, backgroundColor: "#ef6c00"}]},
      options: Object.assign({indexAxis: "y", plugins: {legend: {display: false}}, scales: {x: {beginAtZero: true, ticks: {precision: 0}}}}, common)
    });
    new Chart(document.getElementById("chart-replies"), {
      type: "bar",
      data: {labels: data.replies.labels, datasets: [{label: "Ответов", data: data.replies.values, backgroundColor: data.replies.colors}]},
      options: Object.assign({plugins: {legend: {display: false}}, scales: {y: {beginAtZero: true, ticks: {precision: 0}}}}, common)
    });
    document.body.setAttribute("data-charts-ready", "1");
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", draw); } else { draw(); }
})();
