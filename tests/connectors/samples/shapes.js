// Geometry helpers for the canvas demo.
import { clamp } from "./math.js";

const TAU = Math.PI * 2;

/**
 * Area of a circle.
 * @param {number} r radius
 * @returns {number}
 */
function circleArea(r) {
  return (TAU / 2) * r * r;
}

/** A point on the canvas. */
class Point {
  constructor(x, y) {
    this.x = x;
    this.y = y;
  }

  // Euclidean distance to another point.
  distanceTo(other) {
    const dx = this.x - other.x;
    const dy = this.y - other.y;
    return Math.sqrt(dx * dx + dy * dy);
  }

  static origin() {
    return new Point(0, 0);
  }
}

/** Linear interpolation between two numbers. */
export const lerp = (a, b, t) => a + (b - a) * clamp(t, 0, 1);

export class Rect extends Point {
  width = 0;

  /** Area of the rectangle. */
  area() {
    return this.width * this.height;
  }
}

export default function* range(n) {
  for (let i = 0; i < n; i++) yield i;
}
