// Decode a .spz with @spz-loader/core (Niantic's C++ reader compiled to wasm) and print it as JSON: the
// independent reader that tests/gaussians/test_spz.py checks the writer against. Usage: node THIS FILE.spz RDF
// @spz-loader/core's Node branch is broken in its bundle (createRequire is lost); its browser branch needs
// nothing but WebAssembly, and the wasm is inlined, so take that branch.
process.type = 'renderer';
globalThis.window = globalThis;
const { readFileSync } = await import('node:fs');
const { loadSpz } = await import('@spz-loader/core');
const data = readFileSync(process.argv[2]);
const cloud = await loadSpz(new Uint8Array(data), { unpackOptions: { coordinateSystem: process.argv[3] || 'UNSPECIFIED' } });
const out = {};
for (const k of ['numPoints', 'shDegree', 'antialiased']) out[k] = cloud[k];
for (const k of ['positions', 'scales', 'rotations', 'alphas', 'colors', 'sh']) out[k] = Array.from(cloud[k]);
console.log(JSON.stringify(out));
