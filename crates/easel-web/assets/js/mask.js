// The mask painter: an image with a translucent mask layer painted and erased with a
// round brush (pointer or keyboard), each stroke undoable. The mask is kept at the
// image's own resolution; `maskCanvas()` renders it the way the API wants it: black
// (0,0,0) where painted, white elsewhere, the size of the image.

import { h } from "./dom.js";
import { makeCanvas } from "./images.js";

const UNDO_LIMIT = 40;
const TINT = "rgba(230, 40, 90, 0.55)";

export class MaskPainter {
  constructor({ label, onChange = () => {} }) {
    this.onChange = onChange;
    this.tool = "paint";
    this.size = 40; // brush diameter in screen pixels
    this.undoStack = [];
    this.image = null;
    this.mask = null; // alpha = painted
    this.cursor = null; // {x, y} in image pixels, for the keyboard and the outline
    this.penDown = false;
    this.base = h("canvas", { class: "layer base", "aria-hidden": "true" });
    this.overlay = h("canvas", {
      class: "layer overlay",
      tabindex: "0",
      role: "application",
      "aria-roledescription": "mask painter",
      "aria-label": label,
      "data-testid": "mask-canvas",
    });
    this.element = h("div", { class: "stage", hidden: true }, this.base, this.overlay);
    this.listen();
  }

  /** Shows `canvas` (the image to edit) and clears the mask and its history. */
  setImage(canvas) {
    this.image = canvas;
    for (const layer of [this.base, this.overlay]) {
      layer.width = canvas.width;
      layer.height = canvas.height;
    }
    this.base.getContext("2d").drawImage(canvas, 0, 0);
    this.mask = makeCanvas(canvas.width, canvas.height);
    this.undoStack = [];
    this.cursor = { x: canvas.width / 2, y: canvas.height / 2 };
    this.element.hidden = false;
    this.redraw();
    this.onChange();
  }

  /** Image pixels per screen pixel at the current display size. */
  scale() {
    const shown = this.overlay.getBoundingClientRect().width || this.overlay.width;
    return this.overlay.width / shown;
  }

  radius() {
    return (this.size / 2) * this.scale();
  }

  point(event) {
    const rect = this.overlay.getBoundingClientRect();
    return {
      x: ((event.clientX - rect.left) / rect.width) * this.overlay.width,
      y: ((event.clientY - rect.top) / rect.height) * this.overlay.height,
    };
  }

  snapshot() {
    const ctx = this.mask.getContext("2d");
    this.undoStack.push(ctx.getImageData(0, 0, this.mask.width, this.mask.height));
    if (this.undoStack.length > UNDO_LIMIT) this.undoStack.shift();
  }

  stroke(from, to) {
    const ctx = this.mask.getContext("2d");
    ctx.save();
    ctx.globalCompositeOperation = this.tool === "erase" ? "destination-out" : "source-over";
    ctx.strokeStyle = "#fff";
    ctx.fillStyle = "#fff";
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.lineWidth = this.radius() * 2;
    ctx.beginPath();
    if (from.x === to.x && from.y === to.y) {
      ctx.arc(to.x, to.y, this.radius(), 0, Math.PI * 2);
      ctx.fill();
    } else {
      ctx.moveTo(from.x, from.y);
      ctx.lineTo(to.x, to.y);
      ctx.stroke();
    }
    ctx.restore();
  }

  redraw() {
    const ctx = this.overlay.getContext("2d");
    ctx.clearRect(0, 0, this.overlay.width, this.overlay.height);
    if (!this.mask) return;
    ctx.drawImage(this.mask, 0, 0);
    ctx.save();
    ctx.globalCompositeOperation = "source-in";
    ctx.fillStyle = TINT;
    ctx.fillRect(0, 0, this.overlay.width, this.overlay.height);
    ctx.restore();
    if (this.cursor && this.showCursor) {
      ctx.save();
      ctx.lineWidth = Math.max(1, this.scale() * 1.5);
      ctx.strokeStyle = this.tool === "erase" ? "#ffffff" : "#ffbf47";
      ctx.setLineDash([4 * this.scale(), 3 * this.scale()]);
      ctx.beginPath();
      ctx.arc(this.cursor.x, this.cursor.y, this.radius(), 0, Math.PI * 2);
      ctx.stroke();
      ctx.restore();
    }
  }

  listen() {
    let last = null;
    const o = this.overlay;
    o.addEventListener("pointerdown", (event) => {
      if (!this.mask || event.button !== 0) return;
      event.preventDefault();
      o.setPointerCapture(event.pointerId);
      this.snapshot();
      last = this.point(event);
      this.stroke(last, last);
      this.redraw();
    });
    o.addEventListener("pointermove", (event) => {
      if (!this.mask) return;
      const p = this.point(event);
      this.cursor = p;
      this.showCursor = true;
      if (last) {
        this.stroke(last, p);
        last = p;
      }
      this.redraw();
    });
    const end = () => {
      if (last) {
        last = null;
        this.onChange();
      }
    };
    o.addEventListener("pointerup", end);
    o.addEventListener("pointercancel", end);
    o.addEventListener("pointerleave", () => {
      this.showCursor = document.activeElement === o;
      this.redraw();
    });
    o.addEventListener("focus", () => {
      this.showCursor = true;
      this.redraw();
    });
    o.addEventListener("blur", () => {
      this.showCursor = false;
      this.penDown = false;
      this.redraw();
    });
    o.addEventListener("keydown", (event) => this.key(event));
  }

  // Keyboard painting: arrows move the brush (Shift: a smaller step), Space or Enter
  // puts the pen down or lifts it; while down, moving paints (or erases).
  key(event) {
    if (!this.mask) return;
    const step = Math.max(1, (event.shiftKey ? 0.25 : 1) * this.radius());
    const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
    if (moves[event.key]) {
      event.preventDefault();
      const from = { ...this.cursor };
      const [dx, dy] = moves[event.key];
      this.cursor = {
        x: Math.min(this.mask.width, Math.max(0, from.x + dx)),
        y: Math.min(this.mask.height, Math.max(0, from.y + dy)),
      };
      if (this.penDown) this.stroke(from, this.cursor);
      this.redraw();
      if (this.penDown) this.onChange();
    } else if (event.key === " " || event.key === "Enter") {
      event.preventDefault();
      this.penDown = !this.penDown;
      if (this.penDown) {
        this.snapshot();
        this.stroke(this.cursor, this.cursor);
        this.redraw();
        this.onChange();
      }
    }
  }

  setTool(tool) {
    this.tool = tool;
    this.redraw();
  }

  setSize(size) {
    this.size = size;
    this.redraw();
  }

  canUndo() {
    return this.undoStack.length > 0;
  }

  undo() {
    const last = this.undoStack.pop();
    if (!last) return;
    this.mask.getContext("2d").putImageData(last, 0, 0);
    this.penDown = false;
    this.redraw();
    this.onChange();
  }

  clearMask() {
    if (!this.mask) return;
    this.snapshot();
    this.mask.getContext("2d").clearRect(0, 0, this.mask.width, this.mask.height);
    this.redraw();
    this.onChange();
  }

  /** The share of the image that is painted, 0–1. */
  coverage() {
    if (!this.mask) return 0;
    const data = this.mask.getContext("2d").getImageData(0, 0, this.mask.width, this.mask.height).data;
    let painted = 0;
    for (let i = 3; i < data.length; i += 4) if (data[i] >= 128) painted += 1;
    return painted / (data.length / 4);
  }

  /** The mask as the API wants it: black where painted, white elsewhere. */
  maskCanvas() {
    const out = makeCanvas(this.mask.width, this.mask.height);
    const ctx = out.getContext("2d");
    const src = this.mask.getContext("2d").getImageData(0, 0, out.width, out.height).data;
    const img = ctx.createImageData(out.width, out.height);
    for (let i = 0; i < src.length; i += 4) {
      const v = src[i + 3] >= 128 ? 0 : 255;
      img.data[i] = v;
      img.data[i + 1] = v;
      img.data[i + 2] = v;
      img.data[i + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
    return out;
  }
}
