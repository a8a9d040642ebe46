/* Places & Spaces map pages: draws the layers a map product packs (see geoservice/maps/products.py).
   No requests: everything the page needs is in its #map-data block. */
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("map-data").textContent);
  var map = L.map("map", {preferCanvas: true, attributionControl: false, minZoom: 9, maxZoom: 18});
  if (cfg.tileUrl) { L.tileLayer(cfg.tileUrl, {maxZoom: 19}).addTo(map); }
  map.fitBounds(cfg.bounds, {padding: [10, 10]});
  window.addEventListener("load", function () { map.invalidateSize(); map.fitBounds(cfg.bounds, {padding: [10, 10]}); });

  function hexRing(i) {
    var h = cfg.hexes, o = 12 * i, lat = cfg.origin[0] + h[o], lng = cfg.origin[1] + h[o + 1];
    var ring = [[lat / cfg.scale, lng / cfg.scale]];
    for (var j = 2; j < 12; j += 2) {
      lat += h[o + j]; lng += h[o + j + 1];
      ring.push([lat / cfg.scale, lng / cfg.scale]);
    }
    return ring;
  }
  function path(ints) {
    var lat = cfg.origin[0] + ints[0], lng = cfg.origin[1] + ints[1], out = [[lat / cfg.scale, lng / cfg.scale]];
    for (var j = 2; j < ints.length; j += 2) {
      lat += ints[j]; lng += ints[j + 1];
      out.push([lat / cfg.scale, lng / cfg.scale]);
    }
    return out;
  }
  function escapeText(text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c];
    });
  }
  function styleOf(style, value) {
    if (style.kind === "outline") { return {colour: style.colour, label: style.labels[0], outline: true}; }
    if (style.kind === "classes" || style.kind === "categories") {
      var k = style.values.indexOf(value);
      return k < 0 ? null : {colour: style.colours[k], label: style.labels[k]};
    }
    if (style.kind === "suppressed" && value < 0) { return {colour: "#bbbbbb", label: style.suppressed, hatched: true}; }
    for (var b = 0; b < style.breaks.length; b++) {
      if (value <= style.breaks[b]) { return {colour: style.colours[b], label: style.labels[b]}; }
    }
    return {colour: style.colours[style.colours.length - 1], label: style.labels[style.labels.length - 1]};
  }
  function tooltipText(layer, value, look) {
    if (layer.style.kind === "suppressed" && value < 0) { return layer.title + ": " + layer.style.suppressed; }
    var label = look ? look.label : "";
    return layer.title + ": " + layer.tooltip.replace("{value}", String(value)).replace("{label}", label);
  }

  function addLabels(labels, className, group) {  // [lat, lng, text]: text on the map, no marker image
    (labels || []).forEach(function (p) {
      L.marker([p[0], p[1]], {interactive: false, keyboard: false, icon: L.divIcon(
        {className: className, html: "<span>" + escapeText(p[2]) + "</span>", iconSize: null})}).addTo(group);
    });
  }

  var overlays = {}, drawn = {}, hexLayers = {};
  cfg.layers.forEach(function (layer) {
    var group = L.layerGroup();
    var count = 0;
    if (layer.type === "hex") {
      hexLayers[layer.id] = [];
      layer.index.forEach(function (cell, k) {
        var look = styleOf(layer.style, layer.values[k]);
        if (!look) { return; }
        var opacity = layer.public ? 0.45 : (look.hatched ? 0.35 : 0.7);
        var polygon = L.polygon(hexRing(cell), look.outline
          ? {color: look.colour, weight: 3, fill: false}
          : {color: look.hatched ? "#777777" : look.colour, weight: layer.borderless ? 0 : (look.hatched ? 1 : 0.5),
             fillColor: look.colour, fillOpacity: opacity, dashArray: look.hatched ? "3" : null});
        polygon.bindTooltip(escapeText(layer.tips ? layer.tips[k] : tooltipText(layer, layer.values[k], look)),
                            {sticky: true});
        polygon.addTo(group);
        hexLayers[layer.id].push({polygon: polygon, k: k});
        count++;
      });
      // joined areas: one outline round each, and its number at a point inside it
      (layer.outlines || []).forEach(function (ints) {
        L.polyline(path(ints), {color: "#3f007d", weight: 1.5, interactive: false}).addTo(group);
      });
      addLabels(layer.labels, "area-label", group);
    } else if (layer.type === "lines") {
      layer.paths.forEach(function (rings, k) {
        rings.forEach(function (ints) {
          L.polyline(path(ints), {color: layer.colour, weight: layer.weight, interactive: false}).addTo(group);
        });
        count++;
      });
      addLabels(layer.labels, "boundary-label", group);
    } else if (layer.type === "points") {
      layer.points.forEach(function (p) {
        var marker = L.circleMarker([p[0], p[1]], {radius: 6, color: layer.colour, weight: 2, fillOpacity: 0.8});
        marker.bindTooltip(escapeText(p[2]), {permanent: layer.labels, direction: "right", className: "place-label"});
        marker.bindPopup(escapeText(p[3]));
        marker.addTo(group);
        count++;
      });
    }
    drawn[layer.id] = count;
    // a people layer's hexagon count would read as a number of young people: its title alone
    overlays[escapeText(layer.title) + (layer.people || layer.public ? "" : " (" + count + ")")] = group;
    if (layer.visible) { group.addTo(map); }
    layer.group = group;
  });
  L.control.layers(null, overlays, {collapsed: false, position: "topright"}).addTo(map);
  L.control.scale({imperial: false}).addTo(map);

  // legend: one block per hex layer that is on the map
  // beside the map when the page has a place for it (#legend-panel), so it can never cover the map's controls
  var panel = document.getElementById("legend-panel");
  var legend = panel ? {_div: panel} : L.control({position: "bottomright"});
  legend.onAdd = function () {
    this._div = L.DomUtil.create("div", "legend");
    L.DomEvent.disableClickPropagation(this._div);
    return this._div;
  };
  legend.update = function () {
    var html = "";
    cfg.layers.forEach(function (layer) {
      if (layer.type !== "hex" || !layer.legend || !map.hasLayer(layer.group)) { return; }
      var style = layer.style, rows = "";
      if (style.kind === "outline") {
        rows = '<div><i style="border:3px solid ' + style.colour + ';background:none"></i>' + style.labels[0] + "</div>";
      } else {
        style.labels.forEach(function (label, k) {
          rows += '<div><i style="background:' + style.colours[k] + '"></i>' + escapeText(label) + "</div>";
        });
        if (style.kind === "suppressed") {
          rows += '<div><i style="background:#bbbbbb;border:1px dashed #777"></i>' + escapeText(style.suppressed) + "</div>";
        }
      }
      html += "<h4>" + escapeText(layer.title) + "</h4>" + rows;
    });
    cfg.layers.forEach(function (layer) {  // marked places (points) that ask for a key, e.g. covered places
      if (layer.type !== "points" || !layer.legend || !map.hasLayer(layer.group)) { return; }
      html += '<div><i style="background:' + layer.colour + ';border-radius:50%"></i>' + escapeText(layer.title) +
        "</div>";
    });
    this._div.innerHTML = html || "<h4>No coloured layer shown</h4>";
    fitLegend();
  };
  // a legend in the map's corner never reaches up to the layer control: it scrolls instead
  function fitLegend() {
    var control = map.getContainer().querySelector(".leaflet-control-layers");
    if (panel || !control || !legend._div) { return; }
    var room = map.getContainer().getBoundingClientRect().bottom - control.getBoundingClientRect().bottom - 40;
    legend._div.style.maxHeight = Math.max(80, room) + "px";
  }
  map.on("resize", fitLegend);
  if (!panel) { legend.addTo(map); }
  legend.update();
  // people layers stay on top of public street crime, so their areas and numbers are never hidden under it
  function peopleToFront() {
    cfg.layers.forEach(function (layer) {
      if (layer.people && map.hasLayer(layer.group)) {
        layer.group.eachLayer(function (l) { if (l.bringToFront) { l.bringToFront(); } });
      }
    });
  }
  map.on("overlayadd overlayremove", function () { legend.update(); peopleToFront(); });

  // the time control: recolour the frames' layer month by month (Gi* bins), or back to its own values
  if (cfg.frames) {
    var frames = cfg.frames, target = cfg.layers.filter(function (l) { return l.id === frames.layer; })[0];
    var control = L.control({position: "bottomleft"});
    control.onAdd = function () {
      var div = L.DomUtil.create("div", "time-control");
      div.innerHTML = '<label for="month">Month: <b id="month-label">all (pattern)</b></label><br>' +
        '<input id="month" type="range" min="0" max="' + frames.labels.length + '" value="' + frames.labels.length + '">';
      L.DomEvent.disableClickPropagation(div);
      return div;
    };
    control.addTo(map);
    document.getElementById("month").addEventListener("input", function (event) {
      var t = Number(event.target.value), whole = t === frames.labels.length;
      document.getElementById("month-label").textContent = whole ? "all (pattern)" : frames.labels[t];
      if (!map.hasLayer(target.group)) { target.group.addTo(map); }
      hexLayers[target.id].forEach(function (item) {
        var value = whole ? target.values[item.k] : frames.values[t][item.k];
        var look = whole ? styleOf(target.style, value) : styleOf(frames.style, value);
        item.polygon.setStyle(look ? {fillColor: look.colour, color: look.colour, fillOpacity: 0.7}
                                   : {fillOpacity: 0, color: "#cccccc"});
        item.polygon.setTooltipContent(escapeText(whole ? tooltipText(target, value, look)
          : frames.labels[t] + ": " + (look ? "Gi* " + look.label : "not significant")));
      });
    });
  }

  function countHexesOnMap() {
    var n = 0;
    map.eachLayer(function (l) { if (l instanceof L.Polygon) { n++; } });
    return n;
  }
  window.placesMap = {map: map, drawn: drawn, hexesOnMap: countHexesOnMap, layers: cfg.layers.length, ready: true};
})();
