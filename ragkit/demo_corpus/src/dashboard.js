// Browser dashboard widgets for the Helios Monitor web view.

const REFRESH_MS = 5 * 60 * 1000; // the cloud receives a data point every 5 minutes

/**
 * Format a power value in watts for display, switching to kW above 1000 W.
 */
function formatPower(watts) {
  if (watts >= 1000) {
    return (watts / 1000).toFixed(2) + " kW";
  }
  return Math.round(watts) + " W";
}

/**
 * Colour of the status LED widget for an error code (0 = no error).
 */
function statusColour(errorCode) {
  if (errorCode === 0) return "green";
  if (errorCode === 12) return "orange"; // overtemperature derates before it trips
  return "red";
}

class PowerChart {
  constructor(canvas, hours = 24) {
    this.canvas = canvas;
    this.hours = hours;
    this.points = [];
  }

  /** Add a reading and drop points older than the chart window. */
  add(timestamp, watts) {
    this.points.push({ timestamp, watts });
    const oldest = timestamp - this.hours * 3600 * 1000;
    this.points = this.points.filter((p) => p.timestamp >= oldest);
  }

  /** Peak power in the current window. */
  peak() {
    return this.points.reduce((m, p) => Math.max(m, p.watts), 0);
  }
}

module.exports = { formatPower, statusColour, PowerChart, REFRESH_MS };
