// Gld8tr-3dcn browser viewer: a coloured point-cloud PLY, a 3DGS PLY, a .splat or a .spz file, drawn with
// Spark (@sparkjsdev/spark, a three.js Gaussian splat renderer; vendored, see SPARK_LICENSE), or a triangle mesh
// (a PLY with faces, or a GLB as `gld8tr run --mesh` / `gld8tr reconstruct` write) drawn by three.js itself.
//
// Files are in the project's OpenCV world frame (x right, y down, z forward; the input camera at the origin)
// unless their PLY header says "gld8tr frame opengl"; .spz files are in their own RUB (= OpenGL) axes. three.js
// uses OpenGL axes, so OpenCV data is turned 180 degrees about x. The start view is the input camera
// (horizontal FOV from the config).
//
// Gaussian files go to Spark as they are. A point cloud becomes one round, opaque splat per point, as large as
// the photo pixel it was lifted from (so the start view has no gaps and the points keep their size when orbiting).

import * as THREE from 'three';
import { OrbitControls } from 'three/addons/OrbitControls.js';
import { PackedSplats, SparkRenderer, SplatFileType, SplatMesh } from 'spark';

const config = JSON.parse(document.getElementById('gld8tr-config').textContent);
const statusEl = document.getElementById('status');
const BACKGROUND = 0x1e1f24;
const POINT_SIGMA_PX = 0.6; // splat standard deviation per photo pixel: neighbours overlap without blurring

function setStatus(text, state) {
  statusEl.textContent = text;
  if (state) document.body.dataset.state = state;
}

// ---------------------------------------------------------------- files

const PLY_TYPES = {
  char: ['getInt8', 1], int8: ['getInt8', 1], uchar: ['getUint8', 1], uint8: ['getUint8', 1],
  short: ['getInt16', 2], int16: ['getInt16', 2], ushort: ['getUint16', 2], uint16: ['getUint16', 2],
  int: ['getInt32', 4], int32: ['getInt32', 4], uint: ['getUint32', 4], uint32: ['getUint32', 4],
  float: ['getFloat32', 4], float32: ['getFloat32', 4], double: ['getFloat64', 8], float64: ['getFloat64', 8],
};

function plyHeader(buffer) {
  const bytes = new Uint8Array(buffer);
  const head = new TextDecoder('latin1').decode(bytes.subarray(0, Math.min(bytes.length, 1 << 16)));
  const marker = head.indexOf('end_header');
  if (!head.startsWith('ply') || marker < 0) throw new Error('not a PLY file');
  const header = { bodyStart: head.indexOf('\n', marker) + 1, format: null, comments: [], elements: [] };
  for (const raw of head.slice(0, marker).split('\n')) {
    const t = raw.trim().split(/\s+/);
    if (t[0] === 'format') header.format = t[1];
    else if (t[0] === 'comment') header.comments.push(raw.trim().slice(8));
    else if (t[0] === 'element') header.elements.push({ name: t[1], count: parseInt(t[2], 10), props: [] });
    else if (t[0] === 'property') {
      const el = header.elements[header.elements.length - 1];
      if (t[1] === 'list') el.hasList = true;
      else el.props.push({ type: t[1], name: t[2] });
    }
  }
  header.vertex = header.elements.find((e) => e.name === 'vertex');
  if (!header.vertex) throw new Error('PLY has no vertex element');
  header.names = new Set(header.vertex.props.map((p) => p.name));
  return header;
}

/** The vertex columns of a PLY (ascii or binary) as Float32Arrays, by property name. */
function plyColumns(buffer, header) {
  const { vertex, format, bodyStart, elements } = header;
  const n = vertex.count;
  const cols = {};
  for (const p of vertex.props) cols[p.name] = new Float32Array(n);
  if (format === 'ascii') {
    const lines = new TextDecoder('latin1').decode(new Uint8Array(buffer, bodyStart)).split('\n');
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
    if (offset + n * readers.reduce((s, r) => s + r.size, 0) > buffer.byteLength) throw new Error('PLY is truncated');
    for (let i = 0; i < n; i++) {
      for (const r of readers) {
        r.out[i] = r.get.call(view, offset, little);
        offset += r.size;
      }
    }
  } else {
    throw new Error(`unsupported PLY format ${format}`);
  }
  return cols;
}

/** Triangles of a binary PLY's "face" element right after the vertices (list <count> <index> vertex_indices),
 * fan-triangulated; null when there is none. */
function plyFaces(buffer, header) {
  const { vertex, elements, format, bodyStart } = header;
  const face = elements[elements.indexOf(vertex) + 1];
  if (!face || face.name !== 'face' || !face.hasList || format === 'ascii') return null;
  const head = new TextDecoder('latin1').decode(new Uint8Array(buffer, 0, bodyStart));
  const m = head.match(/property list (\w+) (\w+) vertex_ind(?:ices|ex)/);
  if (!m) return null;
  const little = format === 'binary_little_endian';
  let offset = bodyStart;
  for (const el of elements) {
    if (el === face) break;
    offset += el.count * el.props.reduce((sum, p) => sum + PLY_TYPES[p.type][1], 0);
  }
  const view = new DataView(buffer);
  const [cGet, cSize] = PLY_TYPES[m[1]];
  const [iGet, iSize] = PLY_TYPES[m[2]];
  const out = [];
  for (let f = 0; f < face.count; f++) {
    const k = DataView.prototype[cGet].call(view, offset, little);
    offset += cSize;
    const idx = [];
    for (let j = 0; j < k; j++) { idx.push(DataView.prototype[iGet].call(view, offset, little)); offset += iSize; }
    for (let j = 1; j + 1 < k; j++) out.push(idx[0], idx[j], idx[j + 1]);
  }
  return new Uint32Array(out);
}

/** GLB (glTF 2.0 binary): every triangle primitive's POSITION, optional COLOR_0 and indices (node transforms
 * ignored: the project writes none). glTF axes are OpenGL axes already. */
function meshFromGlb(buffer) {
  const view = new DataView(buffer);
  if (view.getUint32(0, true) !== 0x46546c67) throw new Error('not a GLB file (bad magic)');
  let offset = 12;
  let json = null;
  let bin = null;
  while (offset + 8 <= buffer.byteLength) {
    const len = view.getUint32(offset, true);
    const type = view.getUint32(offset + 4, true);
    if (type === 0x4e4f534a) json = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, offset + 8, len)));
    else if (type === 0x004e4942) bin = offset + 8;
    offset += 8 + len;
  }
  if (!json || bin === null) throw new Error('GLB without JSON or binary chunk');
  const COMPONENTS = { SCALAR: 1, VEC2: 2, VEC3: 3, VEC4: 4 };
  const ARRAYS = { 5121: Uint8Array, 5123: Uint16Array, 5125: Uint32Array, 5126: Float32Array };
  const read = (i) => {
    const acc = json.accessors[i];
    const bv = json.bufferViews[acc.bufferView];
    const T = ARRAYS[acc.componentType];
    if (!T) throw new Error(`unsupported GLB component type ${acc.componentType}`);
    const k = COMPONENTS[acc.type];
    const start = bin + (bv.byteOffset || 0) + (acc.byteOffset || 0);
    const stride = bv.byteStride || k * T.BYTES_PER_ELEMENT;
    const out = new T(acc.count * k);
    for (let e = 0; e < acc.count; e++) {
      out.set(new T(buffer.slice(start + e * stride, start + e * stride + k * T.BYTES_PER_ELEMENT)), e * k);
    }
    return { data: out, k };
  };
  const pos = [];
  const col = [];
  const idx = [];
  let base = 0;
  for (const m of json.meshes || []) {
    for (const prim of m.primitives) {
      if (prim.mode !== undefined && prim.mode !== 4) continue;
      const p = read(prim.attributes.POSITION).data;
      const n = p.length / 3;
      pos.push(p);
      const c = new Float32Array(3 * n).fill(0.8);
      if (prim.attributes.COLOR_0 !== undefined) {
        const { data, k } = read(prim.attributes.COLOR_0);
        const scale = data instanceof Float32Array ? 1 : 1 / (2 ** (8 * data.BYTES_PER_ELEMENT) - 1);
        for (let v = 0; v < n; v++) for (let j = 0; j < 3; j++) c[3 * v + j] = data[k * v + j] * scale;
      }
      col.push(c);
      const ind = prim.indices !== undefined ? read(prim.indices).data : Uint32Array.from({ length: n }, (_, i) => i);
      idx.push(Uint32Array.from(ind, (v) => v + base));
      base += n;
    }
  }
  const cat = (arrs, T) => {
    const o = new T(arrs.reduce((sum, a) => sum + a.length, 0));
    let at = 0;
    for (const a of arrs) { o.set(a, at); at += a.length; }
    return o;
  };
  return { positions: cat(pos, Float32Array), colors: cat(col, Float32Array), faces: cat(idx, Uint32Array) };
}

/** An unlit vertex-coloured three.js mesh (the colours are fused photo colours, already shaded by the scene). */
function triangleMesh({ positions, colors, faces }) {
  const geometry = new THREE.BufferGeometry();
  geometry.setAttribute('position', new THREE.BufferAttribute(positions, 3));
  geometry.setAttribute('color', new THREE.BufferAttribute(colors, 3));
  geometry.setIndex(new THREE.BufferAttribute(faces, 1));
  return new THREE.Mesh(geometry, new THREE.MeshBasicMaterial({ vertexColors: true, side: THREE.DoubleSide }));
}

// ---------------------------------------------------------------- point clouds as splats

/** Width in pixels of the photo behind a point cloud, estimated from the points inside the input camera's
 * view (a lifted pixel covers one photo pixel there); null when too few points are in view. ``forward`` is
 * +1 for OpenCV data (z forward), -1 for OpenGL data. */
function photoWidth(cols, hfov, forward) {
  const n = cols.x.length;
  const step = Math.max(1, Math.floor(n / 20000));
  const t = Math.tan(hfov / 2);
  const us = [];
  const vs = [];
  for (let i = 0; i < n; i += step) {
    const z = forward * cols.z[i];
    if (!(z > 0)) continue;
    const u = cols.x[i] / z;
    if (Math.abs(u) <= t) { us.push(u); vs.push(cols.y[i] / z); }
  }
  if (us.length < 16) return null;
  const spread = (a) => {
    a.sort((p, q) => p - q);
    return a[Math.floor(a.length * 0.98)] - a[Math.floor(a.length * 0.02)];
  };
  return Math.sqrt(us.length * step * (spread(us) / Math.max(spread(vs), 1e-6)));
}

function pointSplats(cols, types, hfov, forward) {
  const n = cols.x.length;
  const hasColor = 'red' in cols;
  const scale = hasColor && types.red && types.red.startsWith('u') && types.red !== 'uint' ? 1 / 255 : 1;
  const width = photoWidth(cols, hfov, forward) || 512;
  const pitch = (2 * Math.tan(hfov / 2)) / width; // one photo pixel, in metres per metre of depth
  const splats = new PackedSplats({ maxSplats: n });
  const center = new THREE.Vector3();
  const scales = new THREE.Vector3();
  const quat = new THREE.Quaternion();
  const color = new THREE.Color(0.8, 0.8, 0.8);
  for (let i = 0; i < n; i++) {
    center.set(cols.x[i], cols.y[i], cols.z[i]);
    const s = POINT_SIGMA_PX * pitch * Math.max(center.length(), 1e-3);
    scales.set(s, s, s);
    if (hasColor) color.setRGB(cols.red[i] * scale, cols.green[i] * scale, cols.blue[i] * scale);
    splats.pushSplat(center, scales, quat, 1.0, color);
  }
  return splats;
}

// ---------------------------------------------------------------- scene

/** Median forward distance (three.js -z after the mesh's turn) of a sample of the splat centres. */
function robustDepth(mesh) {
  const zs = [];
  if (!mesh.packedSplats) {
    const p = mesh.geometry.attributes.position;
    const world = new THREE.Vector3();
    mesh.updateMatrixWorld(true);
    for (let i = 0; i < p.count; i += Math.max(1, Math.floor(p.count / 5000))) {
      world.fromBufferAttribute(p, i).applyMatrix4(mesh.matrixWorld);
      zs.push(-world.z);
    }
    zs.sort((a, b) => a - b);
    return zs.length ? Math.max(zs[Math.floor(zs.length / 2)], 0.1) : 1;
  }
  const n = mesh.packedSplats.numSplats;
  const step = Math.max(1, Math.floor(n / 5000));
  const world = new THREE.Vector3();
  mesh.updateMatrixWorld(true);
  mesh.packedSplats.forEachSplat((i, center) => {
    if (i % step) return;
    world.copy(center).applyMatrix4(mesh.matrixWorld);
    zs.push(-world.z);
  });
  zs.sort((a, b) => a - b);
  return zs.length ? Math.max(zs[Math.floor(zs.length / 2)], 0.1) : 1;
}

async function loadMesh(buffer, hfov) {
  const head = new Uint8Array(buffer, 0, Math.min(3, buffer.byteLength));
  const isPly = new TextDecoder('latin1').decode(head) === 'ply';
  const isGzip = head[0] === 0x1f && head[1] === 0x8b;
  const isGlb = buffer.byteLength >= 4 && new DataView(buffer).getUint32(0, true) === 0x46546c67;
  const sniffed = isPly ? 'ply' : isGzip ? 'spz' : isGlb ? 'glb' : 'splat';
  const format = config.format && config.format !== 'auto' ? config.format : sniffed;
  let mesh;
  let kind = 'splats';
  let opencv;
  if (format === 'glb') {
    const m = meshFromGlb(buffer);
    return { mesh: triangleMesh(m), kind: 'triangles', count: m.faces.length / 3 }; // glTF axes = OpenGL axes
  }
  if (format === 'spz') {
    mesh = new SplatMesh({ fileBytes: buffer, fileType: SplatFileType.SPZ });
    opencv = false; // RUB axes by definition, whatever config.axes says
  } else if (format === 'splat') {
    if (buffer.byteLength % 32 !== 0) throw new Error('.splat size is not a multiple of 32 bytes');
    mesh = new SplatMesh({ fileBytes: buffer, fileType: SplatFileType.SPLAT });
    opencv = config.axes !== 'opengl';
  } else {
    const header = plyHeader(buffer);
    opencv = !header.comments.some((c) => c.includes('frame opengl')) && config.axes !== 'opengl';
    const gaussian = ['f_dc_0', 'opacity', 'scale_0'].every((name) => header.names.has(name));
    const faces = gaussian ? null : plyFaces(buffer, header);
    if (faces && faces.length) {
      const cols = plyColumns(buffer, header);
      const n = cols.x.length;
      const positions = new Float32Array(3 * n);
      const colors = new Float32Array(3 * n).fill(0.8);
      const scale = header.vertex.props.find((p) => p.name === 'red')?.type.startsWith('u') ? 1 / 255 : 1;
      for (let i = 0; i < n; i++) {
        positions.set([cols.x[i], cols.y[i], cols.z[i]], 3 * i);
        if ('red' in cols) colors.set([cols.red[i] * scale, cols.green[i] * scale, cols.blue[i] * scale], 3 * i);
      }
      mesh = triangleMesh({ positions, colors, faces });
      if (opencv) mesh.quaternion.set(1, 0, 0, 0); // 180 degrees about x: OpenCV -> OpenGL
      return { mesh, kind: 'triangles', count: faces.length / 3 };
    }
    if (gaussian) {
      mesh = new SplatMesh({ fileBytes: buffer, fileType: SplatFileType.PLY });
    } else {
      const types = Object.fromEntries(header.vertex.props.map((p) => [p.name, p.type]));
      const packedSplats = pointSplats(plyColumns(buffer, header), types, hfov, opencv ? 1 : -1);
      mesh = new SplatMesh({ packedSplats });
      kind = 'points';
    }
  }
  if (opencv) mesh.quaternion.set(1, 0, 0, 0); // 180 degrees about x: OpenCV -> OpenGL
  await mesh.initialized;
  return { mesh, kind, count: mesh.packedSplats.numSplats };
}

function nextFrame() {
  // Animation frames may be throttled (headless, hidden tabs): a timer moves on regardless.
  return new Promise((resolve) => { requestAnimationFrame(() => resolve()); setTimeout(resolve, 50); });
}

async function main() {
  const response = await fetch(config.dataUrl);
  if (!response.ok) throw new Error(`HTTP ${response.status} for ${config.dataUrl}`);
  const buffer = await response.arrayBuffer();
  const hfov = THREE.MathUtils.degToRad(config.fovDeg || 53.13);

  const container = document.getElementById('view');
  const renderer = new THREE.WebGLRenderer({ antialias: false, preserveDrawingBuffer: true });
  renderer.setPixelRatio(window.devicePixelRatio || 1);
  renderer.setClearColor(new THREE.Color().setHex(BACKGROUND, THREE.SRGBColorSpace), 1);
  container.appendChild(renderer.domElement);
  // Frames are drawn on demand (camera moved, window resized, Spark finished a sort in its worker), never in a
  // loop: a phone's battery, or a CPU rasteriser (SwiftShader), would spend itself on identical frames.
  let sorted = 0;
  let pending = false;
  let draw = () => {};
  const requestDraw = () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => { pending = false; draw(); });
  };
  const spark = new SparkRenderer({ renderer, onDirty: () => { sorted += 1; requestDraw(); } });
  const scene = new THREE.Scene();
  scene.add(spark);

  const { mesh, kind, count } = await loadMesh(buffer, hfov);
  scene.add(mesh);

  const camera = new THREE.PerspectiveCamera(50, 1, 0.01, 1000);
  const controls = new OrbitControls(camera, renderer.domElement);
  const depth = robustDepth(mesh);
  const home = () => {
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
    requestDraw();
  }
  window.addEventListener('resize', resize);
  window.addEventListener('keydown', (e) => { if (e.key === 'r' || e.key === 'R') home(); });
  controls.addEventListener('change', requestDraw);
  draw = () => renderer.render(scene, camera);
  resize();
  home();
  // "ready" means the splats are on the canvas in depth order: wait for Spark's first sort of the loaded scene
  // (it runs in a worker), then draw with it. Should no sort ever come back, the page says ready after 20 s
  // with what it has drawn.
  sorted = 0;
  const t0 = performance.now();
  while (kind !== 'triangles' && sorted === 0 && performance.now() - t0 < 20000) {
    draw();
    await nextFrame();
  }
  draw();
  await nextFrame();
  setStatus(`${count.toLocaleString()} ${kind} \u00b7 ${config.title || ''}`, 'ready');
  document.body.dataset.kind = kind;
  document.body.dataset.count = String(count);
}

main().catch((err) => {
  console.error(err);
  setStatus(`error: ${err.message}`, 'error');
});
