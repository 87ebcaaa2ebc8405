document.getElementById("app").textContent = "Easel";
