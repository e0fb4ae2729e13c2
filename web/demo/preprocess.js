/* What `signlang predict` does to an image before the model, in the browser, to the bit:
 *
 *   read_photo     transparent pixels flattened onto white (Pillow's alpha_composite)
 *   convert("L")   L = (R * 19595 + G * 38470 + B * 7471 + 0x8000) >> 16
 *   resize(...)    Pillow's Lanczos resample of a crop box to 28x28 (src/libImaging/Resample.c:
 *                  precompute_coeffs, normalize_coeffs_8bpc, a horizontal then a vertical pass on
 *                  8-bit data in fixed point, and _imaging.c's crop shortcut)
 *   to_model_input (p / 255 - mean) / std in float32, as one multiply and one subtract
 *
 * and the squares it frames: center_square (--no-frame) and square_around (--box) of framing.py.
 * Plain script: in the page it defines window.SignlangPreprocess; under node, module.exports.
 */
(function (root, factory) {
  const api = factory();
  if (typeof module === "object" && module.exports) module.exports = api;
  else root.SignlangPreprocess = api;
})(typeof self !== "undefined" ? self : this, function () {
  "use strict";

  const BACKGROUND = 255; // framing.BACKGROUND: transparent pixels become white
  const PRECISION_BITS = 32 - 8 - 2; // Resample.c
  const LANCZOS_SUPPORT = 3.0;

  /* RGBA bytes as a canvas's getImageData gives them (not premultiplied) -> Pillow's "L" of the
   * image flattened onto white. Pillow composites onto opaque white as round(c * a / 255) + 255 - a
   * (checked for every c and a); round(c * a / 255) is the premultiplied value the browser decoded,
   * which getImageData's un-premultiplying keeps recoverable. */
  function grayscale(rgba, width, height) {
    const n = width * height;
    const out = new Uint8Array(n);
    for (let i = 0, j = 0; i < n; i++, j += 4) {
      let r = rgba[j], g = rgba[j + 1], b = rgba[j + 2];
      const a = rgba[j + 3];
      if (a !== 255) {
        if (a === 0) {
          r = g = b = BACKGROUND;
        } else {
          const rest = BACKGROUND - a;
          r = Math.floor((r * a) / 255 + 0.5) + rest;
          g = Math.floor((g * a) / 255 + 0.5) + rest;
          b = Math.floor((b * a) / 255 + 0.5) + rest;
        }
      }
      out[i] = (r * 19595 + g * 38470 + b * 7471 + 0x8000) >>> 16;
    }
    return out;
  }

  function sinc(x) {
    if (x === 0.0) return 1.0;
    x = x * Math.PI;
    return Math.sin(x) / x;
  }

  function lanczos(x) {
    if (-3.0 <= x && x < 3.0) return sinc(x) * sinc(x / 3);
    return 0.0;
  }

  /* precompute_coeffs + normalize_coeffs_8bpc: for each output pixel, its first input pixel, how many
   * it reads, and their fixed-point weights. in0 and in1 are C floats (float32) in Pillow. */
  function coefficients(inSize, in0, in1, outSize) {
    in0 = Math.fround(in0);
    in1 = Math.fround(in1);
    const scale = Math.fround(in1 - in0) / outSize; // (double)(in1 - in0) / outSize, the difference in float
    const filterscale = scale < 1.0 ? 1.0 : scale;
    const support = LANCZOS_SUPPORT * filterscale;
    const ksize = Math.ceil(support) * 2 + 1;
    const bounds = new Int32Array(outSize * 2);
    const kk = new Int32Array(outSize * ksize);
    const weights = new Float64Array(ksize);
    for (let xx = 0; xx < outSize; xx++) {
      const center = in0 + (xx + 0.5) * scale;
      let ww = 0.0;
      const ss = 1.0 / filterscale;
      let xmin = Math.trunc(center - support + 0.5);
      if (xmin < 0) xmin = 0;
      let xmax = Math.trunc(center + support + 0.5);
      if (xmax > inSize) xmax = inSize;
      xmax -= xmin;
      for (let x = 0; x < xmax; x++) {
        const w = lanczos((x + xmin - center + 0.5) * ss);
        weights[x] = w;
        ww += w;
      }
      for (let x = 0; x < xmax; x++) {
        let k = weights[x];
        if (ww !== 0.0) k /= ww;
        const fixed = k < 0 ? -0.5 + k * (1 << PRECISION_BITS) : 0.5 + k * (1 << PRECISION_BITS);
        kk[xx * ksize + x] = Math.trunc(fixed);
      }
      bounds[xx * 2] = xmin;
      bounds[xx * 2 + 1] = xmax;
    }
    return { ksize, bounds, kk };
  }

  function clip8(ss) {
    const v = Math.floor(ss / (1 << PRECISION_BITS)); // ss >> PRECISION_BITS, then the clip8 lookup
    return v < 0 ? 0 : v > 255 ? 255 : v;
  }

  /* Image.resize((outW, outH), LANCZOS, box) of an 8-bit one-band image (Uint8Array, row-major).
   * verticalFirst: Pillow >= 13's choice of pass order (false: older Pillow's, horizontal always first). */
  function resampleLanczos(pixels, width, height, box, outW, outH, verticalFirst = true) {
    const b = box.map(Math.fround); // _imaging.c parses the box as "(ffff)"
    if (b[0] < 0 || b[1] < 0) throw new RangeError("box offset can't be negative");
    if (b[2] > width || b[3] > height) throw new RangeError("box can't exceed original image size");
    if (b[2] - b[0] < 0 || b[3] - b[1] < 0) throw new RangeError("box can't be empty");
    // _imaging.c: integer box of the output's size -> a plain crop (also Image.resize's copy shortcut)
    if (b[0] === Math.trunc(b[0]) && b[2] - b[0] === outW && b[1] === Math.trunc(b[1]) && b[3] - b[1] === outH) {
      const out = new Uint8Array(outW * outH);
      for (let y = 0; y < outH; y++) {
        for (let x = 0; x < outW; x++) out[y * outW + x] = pixels[(y + b[1]) * width + x + b[0]];
      }
      return out;
    }
    const needHorizontal = outW !== width || b[0] !== 0 || b[2] !== outW;
    const needVertical = outH !== height || b[1] !== 0 || b[3] !== outH;
    if (!needHorizontal && !needVertical) return pixels.slice();
    const horiz = needHorizontal ? coefficients(width, b[0], b[2], outW) : null;
    const vert = needVertical ? coefficients(height, b[1], b[3], outH) : null;
    if (!needVertical) return horizontalPass(pixels, width, 0, height, horiz, outW);
    if (!needHorizontal) return verticalPass(pixels, width, 0, width, vert, outH);
    // Pillow 13 (python-pillow/Pillow#9549) runs the vertical pass first when the height shrinks by more
    // than twice as many pixels as the width: ysize < imIn->ysize && imIn->ysize - ysize > 2 (imIn->xsize - xsize)
    if (verticalFirst && outH < height && height - outH > 2 * (width - outW)) {
      const xFirst = horiz.bounds[0];
      const xLast = horiz.bounds[outW * 2 - 2] + horiz.bounds[outW * 2 - 1];
      for (let i = 0; i < outW; i++) horiz.bounds[i * 2] -= xFirst;
      const temp = verticalPass(pixels, width, xFirst, xLast - xFirst, vert, outH);
      return horizontalPass(temp, xLast - xFirst, 0, outH, horiz, outW);
    }
    const yFirst = vert.bounds[0];
    const yLast = vert.bounds[outH * 2 - 2] + vert.bounds[outH * 2 - 1];
    for (let i = 0; i < outH; i++) vert.bounds[i * 2] -= yFirst;
    const temp = horizontalPass(pixels, width, yFirst, yLast - yFirst, horiz, outW);
    return verticalPass(temp, outW, 0, outW, vert, outH);
  }

  /* ImagingResampleHorizontal_8bpc: rows [row0, row0 + rows) of a ``width``-wide image -> outW wide. */
  function horizontalPass(src, width, row0, rows, horiz, outW) {
    const half = 1 << (PRECISION_BITS - 1);
    const out = new Uint8Array(outW * rows);
    for (let yy = 0; yy < rows; yy++) {
      const row = (yy + row0) * width;
      for (let xx = 0; xx < outW; xx++) {
        const xmin = horiz.bounds[xx * 2], xmax = horiz.bounds[xx * 2 + 1], k = xx * horiz.ksize;
        let ss = half;
        for (let x = 0; x < xmax; x++) ss += src[row + x + xmin] * horiz.kk[k + x];
        out[yy * outW + xx] = clip8(ss);
      }
    }
    return out;
  }

  /* ImagingResampleVertical_8bpc: columns [col0, col0 + cols) of a ``width``-wide image -> outH high. */
  function verticalPass(src, width, col0, cols, vert, outH) {
    const half = 1 << (PRECISION_BITS - 1);
    const out = new Uint8Array(cols * outH);
    for (let yy = 0; yy < outH; yy++) {
      const ymin = vert.bounds[yy * 2], ymax = vert.bounds[yy * 2 + 1], k = yy * vert.ksize;
      for (let xx = 0; xx < cols; xx++) {
        let ss = half;
        for (let y = 0; y < ymax; y++) ss += src[(y + ymin) * width + xx + col0] * vert.kk[k + y];
        out[yy * cols + xx] = clip8(ss);
      }
    }
    return out;
  }

  /* Normalization.to_model_input: float32 (p * f32(1 / (255 std))) - f32(mean / std). */
  function toModelInput(pixels, normalization) {
    const scale = Math.fround(1.0 / (255.0 * normalization.std));
    const shift = Math.fround(normalization.mean / normalization.std);
    const out = new Float32Array(pixels.length);
    for (let i = 0; i < pixels.length; i++) out[i] = Math.fround(Math.fround(pixels[i] * scale) - shift);
    return out;
  }

  /* framing.center_square: the largest square in the middle, as [x0, y0, x1, y1]. */
  function centerSquare(width, height) {
    const side = Math.min(width, height);
    const x0 = (width - side) / 2, y0 = (height - side) / 2;
    return [x0, y0, x0 + side, y0 + side];
  }

  /* framing.square_around: the square centred on the hand box, its longer side times (1 + 2 margin),
   * moved (and if need be shrunk) to lie inside the image. Same float operations, same order. */
  function squareAround(hand, width, height, margin) {
    const side = Math.min(Math.max(hand[2] - hand[0], hand[3] - hand[1]) * (1.0 + 2.0 * margin), width, height);
    const cx = (hand[0] + hand[2]) / 2, cy = (hand[1] + hand[3]) / 2;
    const x0 = Math.min(Math.max(cx - side / 2, 0.0), width - side);
    const y0 = Math.min(Math.max(cy - side / 2, 0.0), height - side);
    return [x0, y0, x0 + side, y0 + side];
  }

  /* The hand box that square_around turns back into ``square``: the square shrunk about its centre by
   * 1 / (1 + 2 margin), its numbers as `--box` prints them (at most 3 decimals). */
  function handBox(square, margin) {
    const side = (square[2] - square[0]) / (1.0 + 2.0 * margin);
    const cx = (square[0] + square[2]) / 2, cy = (square[1] + square[3]) / 2;
    return [cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2].map((v) => Number(v.toFixed(3)));
  }

  function formatBox(box) {
    return box.map((v) => String(v)).join(",");
  }

  /* Box.parse: "x0,y0,x1,y1" -> numbers, as Python's float() reads them. */
  function parseBox(text) {
    const parts = text.split(",").map((part) => Number(part.trim()));
    if (parts.length !== 4 || parts.some((v) => !Number.isFinite(v))) throw new RangeError(`expected x0,y0,x1,y1, got ${text}`);
    if (!(parts[2] > parts[0] && parts[3] > parts[1])) throw new RangeError(`expected x0 < x1 and y0 < y1, got ${text}`);
    return parts;
  }

  /* frame_pixels: the square's grayscale pixels resized to size x size. */
  function framePixels(gray, width, height, square, size, verticalFirst = true) {
    return resampleLanczos(gray, width, height, square, size, size, verticalFirst);
  }

  return {
    grayscale, coefficients, resampleLanczos, toModelInput, centerSquare, squareAround, handBox, formatBox,
    parseBox, framePixels,
  };
});
