// Gld8tr-3dcn browser viewer: a coloured point-cloud PLY, a 3DGS PLY, a .splat or a .spz file, drawn with three.js.
//
// Files are in the project's OpenCV world frame (x right, y down, z forward; the input camera at the origin)
// unless their PLY header says "gld8tr frame opengl". three.js uses OpenGL axes, so OpenCV data is turned
// 180 degrees about x on load. The start view is the input camera (horizontal FOV from the config).
//
// Splats are drawn as camera-facing quads with the EWA footprint of each Gaussian (the same 2D covariance
// as the Python rasteriser, including its 0.3 px^2 low-pass), blended back to front with premultiplied alpha.
// Per-splat data lives in float textures; only a sorted index attribute is re-uploaded when the view turns.

import * as THREE from 'three';
import { OrbitControls } from 'three/addons/OrbitControls.js';

const SH_C0 = 0.28209479177387814;
const TEX_WIDTH = 2048;
const config = JSON.parse(document.getElementById('gld8tr-config').textContent);
const statusEl = document.getElementById('status');

function setStatus(text, state) {
  statusEl.textContent = text;
  if (state) document.body.dataset.state = state;
}

// ---------------------------------------------------------------- parsing

const PLY_TYPES = {
  char: ['getInt8', 1], int8: ['getInt8', 1], uchar: ['getUint8', 1], uint8: ['getUint8', 1],
  short: ['getInt16', 2], int16: ['getInt16', 2], ushort: ['getUint16', 2], uint16: ['getUint16', 2],
  int: ['getInt32', 4], int32: ['getInt32', 4], uint: ['getUint32', 4], uint32: ['getUint32', 4],
  float: ['getFloat32', 4], float32: ['getFloat32', 4], double: ['getFloat64', 8], float64: ['getFloat64', 8],
};

function parsePly(buffer) {
  const bytes = new Uint8Array(buffer);
  const head = new TextDecoder('latin1').decode(bytes.subarray(0, Math.min(bytes.length, 1 << 16)));
  const marker = head.indexOf('end_header');
  if (!head.startsWith('ply') || marker < 0) throw new Error('not a PLY file');
  const bodyStart = head.indexOf('\n', marker) + 1;
  let format = null;
  const comments = [];
  const elements = [];
  for (const raw of head.slice(0, marker).split('\n')) {
    const t = raw.trim().split(/\s+/);
    if (t[0] === 'format') format = t[1];
    else if (t[0] === 'comment') comments.push(raw.trim().slice(8));
    else if (t[0] === 'element') elements.push({ name: t[1], count: parseInt(t[2], 10), props: [] });
    else if (t[0] === 'property') {
      const el = elements[elements.length - 1];
      if (t[1] === 'list') el.hasList = true;
      else el.props.push({ type: t[1], name: t[2] });
    }
  }
  const vertex = elements.find((e) => e.name === 'vertex');
  if (!vertex) throw new Error('PLY has no vertex element');
  const n = vertex.count;
  const cols = {};
  for (const p of vertex.props) cols[p.name] = new Float32Array(n);
  if (format === 'ascii') {
    const text = new TextDecoder('latin1').decode(bytes.subarray(bodyStart));
    const lines = text.split('\n');
    let line = 0;
    for (const el of elements) {
      if (el === vertex) break;
      line += el.count; // elements before the vertices are skipped
    }
    for (let i = 0; i < n; i++) {
      const t = lines[line + i].trim().split(/\s+/);
      vertex.props.forEach((p, j) => { cols[p.name][i] = parseFloat(t[j]); });
    }
  } else if (format === 'binary_little_endian' || format === 'binary_big_endian') {
    const little = format === 'binary_little_endian';
    let offset = bodyStart;
    for (const el of elements) {
      if (el === vertex) break;
      if (el.hasList) throw new Error('PLY elements with lists before the vertices are not supported');
      offset += el.count * el.props.reduce((s, p) => s + PLY_TYPES[p.type][1], 0);
    }
    const view = new DataView(buffer);
    const readers = vertex.props.map((p) => {
      const spec = PLY_TYPES[p.type];
      if (!spec) throw new Error(`unsupported PLY property type ${p.type}`);
      return { out: cols[p.name], get: DataView.prototype[spec[0]], size: spec[1] };
    });
    for (let i = 0; i < n; i++) {
      for (const r of readers) {
        r.out[i] = r.get.call(view, offset, little);
        offset += r.size;
      }
    }
  } else {
    throw new Error(`unsupported PLY format ${format}`);
  }
  const types = Object.fromEntries(vertex.props.map((p) => [p.name, p.type]));
  return { n, cols, types, comments };
}

function sigmoid(x) { return 1 / (1 + Math.exp(-x)); }

// Common splat record: positions [3n], colors [4n] (rgb + alpha in [0, 1]), quats [4n] (w, x, y, z), scales [3n].
function splatsFromPly(ply) {
  const { n, cols } = ply;
  const out = { n, positions: new Float32Array(3 * n), colors: new Float32Array(4 * n),
                quats: new Float32Array(4 * n), scales: new Float32Array(3 * n) };
  const hasRot = 'rot_0' in cols;
  for (let i = 0; i < n; i++) {
    out.positions.set([cols.x[i], cols.y[i], cols.z[i]], 3 * i);
    for (let c = 0; c < 3; c++) {
      out.colors[4 * i + c] = Math.min(1, Math.max(0, 0.5 + SH_C0 * cols[`f_dc_${c}`][i]));
      out.scales[3 * i + c] = Math.exp(cols[`scale_${c}`][i]);
    }
    out.colors[4 * i + 3] = sigmoid(cols.opacity[i]);
    if (hasRot) out.quats.set([cols.rot_0[i], cols.rot_1[i], cols.rot_2[i], cols.rot_3[i]], 4 * i);
    else out.quats.set([1, 0, 0, 0], 4 * i);
  }
  return out;
}

function splatsFromSplatFile(buffer) {
  if (buffer.byteLength % 32 !== 0) throw new Error('.splat size is not a multiple of 32 bytes');
  const n = buffer.byteLength / 32;
  const f = new Float32Array(buffer);
  const u = new Uint8Array(buffer);
  const out = { n, positions: new Float32Array(3 * n), colors: new Float32Array(4 * n),
                quats: new Float32Array(4 * n), scales: new Float32Array(3 * n) };
  for (let i = 0; i < n; i++) {
    out.positions.set(f.subarray(8 * i, 8 * i + 3), 3 * i);
    out.scales.set(f.subarray(8 * i + 3, 8 * i + 6), 3 * i);
    for (let c = 0; c < 4; c++) {
      out.colors[4 * i + c] = u[32 * i + 24 + c] / 255;
      out.quats[4 * i + c] = (u[32 * i + 28 + c] - 128) / 128;
    }
  }
  return out;
}

// .spz (Niantic): gzip of a 16-byte header and per-attribute arrays, stored in RUB (OpenGL) axes. Versions 2 and 3.
async function splatsFromSpz(buffer) {
  const stream = new Blob([buffer]).stream().pipeThrough(new DecompressionStream('gzip'));
  const raw = new Uint8Array(await new Response(stream).arrayBuffer());
  const view = new DataView(raw.buffer);
  if (raw.length < 16 || view.getUint32(0, true) !== 0x5053474e) throw new Error('not a .spz file (bad magic)');
  const version = view.getUint32(4, true);
  if (version !== 2 && version !== 3) throw new Error(`.spz version ${version} is not supported`);
  const n = view.getUint32(8, true);
  const frac = raw[13];
  const rotBytes = version >= 3 ? 4 : 3;
  const need = 16 + n * (9 + 1 + 3 + 3 + rotBytes);
  if (raw.length < need) throw new Error('.spz data is truncated');
  const pos = 16, alpha = pos + 9 * n, color = alpha + n, scale = color + 3 * n, rot = scale + 3 * n;
  const out = { n, positions: new Float32Array(3 * n), colors: new Float32Array(4 * n),
                quats: new Float32Array(4 * n), scales: new Float32Array(3 * n) };
  const unit = 1 / (1 << frac);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 3; c++) {
      const o = pos + 9 * i + 3 * c;
      let v = raw[o] | (raw[o + 1] << 8) | (raw[o + 2] << 16);
      if (v & 0x800000) v -= 0x1000000;
      out.positions[3 * i + c] = v * unit;
      out.scales[3 * i + c] = Math.exp(raw[scale + 3 * i + c] / 16 - 10);
      out.colors[4 * i + c] = Math.min(1, Math.max(0, 0.5 + SH_C0 * ((raw[color + 3 * i + c] / 255 - 0.5) / 0.15)));
    }
    out.colors[4 * i + 3] = raw[alpha + i] / 255;
    const q = [0, 0, 0, 0]; // x, y, z, w
    if (version >= 3) {
      let word = view.getUint32(rot + 4 * i, true);
      const largest = word >>> 30;
      let sum = 0;
      for (let c = 3; c >= 0; c--) {
        if (c === largest) continue;
        const mag = (word & 511) / 511 * Math.SQRT1_2;
        q[c] = (word >>> 9) & 1 ? -mag : mag;
        sum += q[c] * q[c];
        word >>>= 10;
      }
      q[largest] = Math.sqrt(Math.max(0, 1 - sum));
    } else {
      let sum = 0;
      for (let c = 0; c < 3; c++) { q[c] = raw[rot + 3 * i + c] / 127.5 - 1; sum += q[c] * q[c]; }
      q[3] = Math.sqrt(Math.max(0, 1 - sum));
    }
    out.quats.set([q[3], q[0], q[1], q[2]], 4 * i);
  }
  return out;
}

function pointsFromPly(ply) {
  const { n, cols, types } = ply;
  const positions = new Float32Array(3 * n);
  const colors = new Float32Array(3 * n).fill(0.8);
  const hasColor = 'red' in cols;
  const scale = hasColor && types.red && types.red.startsWith('u') && types.red !== 'uint' ? 1 / 255 : 1;
  for (let i = 0; i < n; i++) {
    positions.set([cols.x[i], cols.y[i], cols.z[i]], 3 * i);
    if (hasColor) colors.set([cols.red[i] * scale, cols.green[i] * scale, cols.blue[i] * scale], 3 * i);
  }
  return { n, positions, colors };
}

// ---------------------------------------------------------------- geometry helpers

// OpenCV -> OpenGL: (x, y, z) -> (x, -y, -z) for positions; covariances become D C D with D = diag(1, -1, -1).
function flipPositions(p) {
  for (let i = 0; i < p.length; i += 3) { p[i + 1] = -p[i + 1]; p[i + 2] = -p[i + 2]; }
}

function covariances(s, flip) {
  const n = s.n;
  const covA = new Float32Array(4 * n); // xx, xy, xz, (pad)
  const covB = new Float32Array(4 * n); // yy, yz, zz, (pad)
  for (let i = 0; i < n; i++) {
    let [w, x, y, z] = s.quats.subarray(4 * i, 4 * i + 4);
    const norm = Math.hypot(w, x, y, z) || 1;
    w /= norm; x /= norm; y /= norm; z /= norm;
    const R = [
      1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
      2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
      2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    ];
    const sx = s.scales[3 * i], sy = s.scales[3 * i + 1], sz = s.scales[3 * i + 2];
    const M = [R[0] * sx, R[1] * sy, R[2] * sz, R[3] * sx, R[4] * sy, R[5] * sz, R[6] * sx, R[7] * sy, R[8] * sz];
    const c = (r, q) => M[3 * r] * M[3 * q] + M[3 * r + 1] * M[3 * q + 1] + M[3 * r + 2] * M[3 * q + 2];
    const sign = flip ? -1 : 1;
    covA.set([c(0, 0), sign * c(0, 1), sign * c(0, 2), 0], 4 * i);
    covB.set([c(1, 1), c(1, 2), c(2, 2), 0], 4 * i);
  }
  return { covA, covB };
}

function dataTexture(values, n) {
  const rows = Math.max(1, Math.ceil(n / TEX_WIDTH));
  const data = new Float32Array(TEX_WIDTH * rows * 4);
  data.set(values);
  const tex = new THREE.DataTexture(data, TEX_WIDTH, rows, THREE.RGBAFormat, THREE.FloatType);
  tex.minFilter = tex.magFilter = THREE.NearestFilter;
  tex.needsUpdate = true;
  return tex;
}

const SPLAT_VERTEX = /* glsl */ `
  precision highp float;
  precision highp sampler2D;
  attribute float splatIndex;
  uniform sampler2D tCenter, tColor, tCovA, tCovB;
  uniform vec2 viewport;   // drawing-buffer pixels
  uniform float focal;     // pixels
  varying vec4 vColor;
  varying vec2 vPos;
  ivec2 texel(float i) { int k = int(i); return ivec2(k % ${TEX_WIDTH}, k / ${TEX_WIDTH}); }
  void main() {
    ivec2 t = texel(splatIndex);
    vec3 center = texelFetch(tCenter, t, 0).xyz;
    vColor = texelFetch(tColor, t, 0);
    vec3 a = texelFetch(tCovA, t, 0).xyz;
    vec3 b = texelFetch(tCovB, t, 0).xyz;
    vec4 cam = modelViewMatrix * vec4(center, 1.0);
    vec4 clip = projectionMatrix * cam;
    if (cam.z > -0.01 || abs(clip.x) > 1.3 * clip.w || abs(clip.y) > 1.3 * clip.w) {
      gl_Position = vec4(0.0, 0.0, 2.0, 1.0);  // behind the camera or far off screen: culled
      return;
    }
    mat3 sigma = mat3(a.x, a.y, a.z, a.y, b.x, b.y, a.z, b.y, b.z);
    mat3 W = mat3(modelViewMatrix);
    float z = cam.z;
    // Jacobian of (x, y, z) -> focal * (x, y) / -z, screen y up; third row unused.
    mat3 J = mat3(-focal / z, 0.0, 0.0, 0.0, -focal / z, 0.0, focal * cam.x / (z * z), focal * cam.y / (z * z), 0.0);
    mat3 T = J * W;
    mat3 cov = T * sigma * transpose(T);
    float ca = cov[0][0] + 0.3, cb = cov[0][1], cc = cov[1][1] + 0.3;
    float mid = 0.5 * (ca + cc);
    float rad = length(vec2(0.5 * (ca - cc), cb));
    float l1 = mid + rad, l2 = max(mid - rad, 0.1);
    vec2 d1 = abs(cb) > 1e-7 ? normalize(vec2(cb, l1 - ca)) : (ca >= cc ? vec2(1.0, 0.0) : vec2(0.0, 1.0));
    vec2 d2 = vec2(-d1.y, d1.x);
    vec2 major = min(3.0 * sqrt(l1), 1024.0) * d1;
    vec2 minor = min(3.0 * sqrt(l2), 1024.0) * d2;
    vPos = 3.0 * position.xy;
    vec2 offset = position.x * major + position.y * minor;
    gl_Position = vec4(clip.xy / clip.w + 2.0 * offset / viewport, clip.z / clip.w, 1.0);
  }
`;

const SPLAT_FRAGMENT = /* glsl */ `
  precision highp float;
  varying vec4 vColor;
  varying vec2 vPos;
  void main() {
    float r2 = dot(vPos, vPos);
    float alpha = min(0.999, vColor.a * exp(-0.5 * r2));
    if (r2 > 9.0 || alpha < 1.0 / 255.0) discard;
    gl_FragColor = vec4(vColor.rgb * alpha, alpha);
  }
`;

class SplatMesh extends THREE.Mesh {
  constructor(s, flip) {
    const n = s.n;
    const centers = new Float32Array(4 * n);
    for (let i = 0; i < n; i++) centers.set(s.positions.subarray(3 * i, 3 * i + 3), 4 * i);
    const { covA, covB } = covariances(s, flip);
    const geometry = new THREE.InstancedBufferGeometry();
    geometry.setAttribute('position', new THREE.Float32BufferAttribute([-1, -1, 0, 1, -1, 0, 1, 1, 0, -1, 1, 0], 3));
    geometry.setIndex([0, 1, 2, 0, 2, 3]);
    const order = new Float32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    const indexAttr = new THREE.InstancedBufferAttribute(order, 1);
    indexAttr.setUsage(THREE.DynamicDrawUsage);
    geometry.setAttribute('splatIndex', indexAttr);
    geometry.instanceCount = n;
    const material = new THREE.ShaderMaterial({
      uniforms: {
        tCenter: { value: dataTexture(centers, n) },
        tColor: { value: dataTexture(s.colors, n) },
        tCovA: { value: dataTexture(covA, n) },
        tCovB: { value: dataTexture(covB, n) },
        viewport: { value: new THREE.Vector2(1, 1) },
        focal: { value: 1 },
      },
      vertexShader: SPLAT_VERTEX,
      fragmentShader: SPLAT_FRAGMENT,
      transparent: true,
      depthTest: false,
      depthWrite: false,
      blending: THREE.CustomBlending,
      blendSrc: THREE.OneFactor,
      blendDst: THREE.OneMinusSrcAlphaFactor,
      blendSrcAlpha: THREE.OneFactor,
      blendDstAlpha: THREE.OneMinusSrcAlphaFactor,
    });
    super(geometry, material);
    this.frustumCulled = false;
    this.centers = s.positions;
    this.n = n;
    this.depthKeys = new Float32Array(n);
    this.lastSortDir = new THREE.Vector3();
  }

  // Back-to-front order along the viewing direction: a 16-bit counting sort of the view depths.
  sortFor(camera) {
    const dir = new THREE.Vector3();
    camera.getWorldDirection(dir);
    const eye = camera.position;
    if (dir.dot(this.lastSortDir) > 0.9999 && this.lastEye && this.lastEye.distanceTo(eye) < 1e-4) return;
    this.lastSortDir.copy(dir);
    this.lastEye = eye.clone();
    const { n, centers, depthKeys } = this;
    let lo = Infinity, hi = -Infinity;
    for (let i = 0; i < n; i++) {
      const d = (centers[3 * i] - eye.x) * dir.x + (centers[3 * i + 1] - eye.y) * dir.y
        + (centers[3 * i + 2] - eye.z) * dir.z;
      depthKeys[i] = d;
      if (d < lo) lo = d;
      if (d > hi) hi = d;
    }
    const bins = 65536;
    const scale = (bins - 1) / Math.max(hi - lo, 1e-9);
    const counts = new Uint32Array(bins);
    const keys = new Uint16Array(n);
    for (let i = 0; i < n; i++) {
      keys[i] = (bins - 1) - Math.floor((depthKeys[i] - lo) * scale); // far first
      counts[keys[i]]++;
    }
    for (let b = 1; b < bins; b++) counts[b] += counts[b - 1];
    const order = this.geometry.getAttribute('splatIndex');
    for (let i = n - 1; i >= 0; i--) order.array[--counts[keys[i]]] = i;
    order.needsUpdate = true;
  }
}

// ---------------------------------------------------------------- scene

function robustCenter(positions) {
  // Median depth along -z (OpenGL forward) of a subsample: where the input camera looks.
  const n = positions.length / 3;
  const step = Math.max(1, Math.floor(n / 5000));
  const zs = [];
  for (let i = 0; i < n; i += step) zs.push(-positions[3 * i + 2]);
  zs.sort((x, y) => x - y);
  return zs.length ? Math.max(zs[Math.floor(zs.length / 2)], 0.1) : 1;
}

function inputColumns(positions, hfov) {
  // How many pixels wide the photo behind a point cloud was, estimated from the points in the input camera's
  // view: a lifted pixel covers one photo pixel there, so the points are drawn that large and the start view
  // has no gaps. (Files carry no image size; other views' points only make the estimate a bit larger.)
  const n = positions.length / 3;
  const step = Math.max(1, Math.floor(n / 20000));
  const t = Math.tan(hfov / 2);
  const xs = [];
  const ys = [];
  for (let i = 0; i < n; i += step) {
    const z = -positions[3 * i + 2];
    if (!(z > 0)) continue;
    const u = positions[3 * i] / z;
    if (Math.abs(u) <= t) { xs.push(u); ys.push(positions[3 * i + 1] / z); }
  }
  if (xs.length < 16) return null;
  const spread = (a) => {
    a.sort((p, q) => p - q);
    return a[Math.floor(a.length * 0.98)] - a[Math.floor(a.length * 0.02)];
  };
  const aspect = spread(xs) / Math.max(spread(ys), 1e-6);
  return Math.sqrt(xs.length * step * aspect);
}

async function main() {
  const response = await fetch(config.dataUrl);
  if (!response.ok) throw new Error(`HTTP ${response.status} for ${config.dataUrl}`);
  const buffer = await response.arrayBuffer();
  const head = new Uint8Array(buffer, 0, Math.min(3, buffer.byteLength));
  const isPly = new TextDecoder('latin1').decode(head) === 'ply';
  const isGzip = head[0] === 0x1f && head[1] === 0x8b;
  const format = config.format && config.format !== 'auto' ? config.format : (isPly ? 'ply' : isGzip ? 'spz' : 'splat');

  const scene = new THREE.Scene();
  // The output is not colour-managed (see below), so the clear colour is given in those same display values.
  scene.background = new THREE.Color().setHex(0x1e1f24, THREE.LinearSRGBColorSpace);
  let object, count, kind, positions;
  // Splats from any format: OpenCV data (flip) is turned into OpenGL axes here and in the covariances.
  const useSplats = (s, flip) => {
    if (flip) flipPositions(s.positions);
    object = new SplatMesh(s, flip);
    ({ n: count, positions } = s);
    kind = 'splats';
  };
  if (format === 'spz') {
    useSplats(await splatsFromSpz(buffer), false); // already in OpenGL axes, whatever config.axes says
  } else if (format === 'splat') {
    useSplats(splatsFromSplatFile(buffer), config.axes !== 'opengl');
  } else {
    const ply = parsePly(buffer);
    const flip = !ply.comments.some((c) => c.includes('frame opengl')) && config.axes !== 'opengl';
    if ('f_dc_0' in ply.cols && 'opacity' in ply.cols && 'scale_0' in ply.cols) {
      useSplats(splatsFromPly(ply), flip);
    } else {
      const p = pointsFromPly(ply);
      if (flip) flipPositions(p.positions);
      const geometry = new THREE.BufferGeometry();
      geometry.setAttribute('position', new THREE.BufferAttribute(p.positions, 3));
      geometry.setAttribute('color', new THREE.BufferAttribute(p.colors, 3));
      const material = new THREE.PointsMaterial({ size: 2, sizeAttenuation: false, vertexColors: true });
      object = new THREE.Points(geometry, material);
      ({ n: count, positions } = p);
      kind = 'points';
    }
  }
  scene.add(object);

  const container = document.getElementById('view');
  const renderer = new THREE.WebGLRenderer({ antialias: false, preserveDrawingBuffer: true });
  renderer.outputColorSpace = THREE.LinearSRGBColorSpace; // colours in the files are already display values
  renderer.setPixelRatio(window.devicePixelRatio || 1);
  container.appendChild(renderer.domElement);

  const hfov = THREE.MathUtils.degToRad(config.fovDeg || 53.13);
  const camera = new THREE.PerspectiveCamera(50, 1, 0.01, 1000);
  const controls = new OrbitControls(camera, renderer.domElement);
  const depth = robustCenter(positions);
  const home = () => {
    camera.position.set(0, 0, 0);
    controls.target.set(0, 0, -depth);
    camera.position.set(0, 0, -depth * 0.02); // a hair in front of the origin so orbiting has a radius
    controls.update();
  };

  function resize() {
    const w = container.clientWidth || window.innerWidth;
    const h = container.clientHeight || window.innerHeight;
    renderer.setSize(w, h, false);
    renderer.domElement.style.width = '100%';
    renderer.domElement.style.height = '100%';
    camera.aspect = w / h;
    camera.fov = THREE.MathUtils.radToDeg(2 * Math.atan(Math.tan(hfov / 2) / camera.aspect));
    camera.updateProjectionMatrix();
    if (object instanceof THREE.Points) {
      const photoWidth = inputColumns(positions, hfov);
      const fit = photoWidth ? (1.4 * renderer.getDrawingBufferSize(new THREE.Vector2()).x) / photoWidth : 2;
      object.material.size = config.pointSize || Math.min(16, Math.max(1, fit));
    }
    if (object instanceof SplatMesh) {
      const size = renderer.getDrawingBufferSize(new THREE.Vector2());
      object.material.uniforms.viewport.value.copy(size);
      object.material.uniforms.focal.value = size.y / (2 * Math.tan(THREE.MathUtils.degToRad(camera.fov) / 2));
    }
  }
  window.addEventListener('resize', resize);
  window.addEventListener('keydown', (e) => { if (e.key === 'r' || e.key === 'R') home(); });
  resize();
  home();

  const draw = () => {
    controls.update();
    if (object instanceof SplatMesh) object.sortFor(camera);
    renderer.render(scene, camera);
  };
  // The first frame is drawn synchronously, so "ready" means a frame is on the canvas whether or not the
  // browser ever schedules an animation frame (headless and background tabs may throttle them).
  draw();
  setStatus(`${count.toLocaleString()} ${kind} \u00b7 ${config.title || ''}`, 'ready');
  document.body.dataset.kind = kind;
  document.body.dataset.count = String(count);
  renderer.setAnimationLoop(draw);
}

main().catch((err) => {
  console.error(err);
  setStatus(`error: ${err.message}`, 'error');
});
