// Bootstrap of one pthread worker of tfjs-backend-wasm's threaded build under Node (wasm-threads.ts).
// The stock build hands its workers blob: URLs, which Node's worker_threads cannot load; this runs
// the same worker code from the package's files instead.
'use strict';
const mainScript = require.resolve('@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.js');
// The worker asks for an object URL of the main script's Blob and reads it from disk: give it the file.
URL.createObjectURL = () => mainScript;
URL.revokeObjectURL = () => {};
const { wasmWorkerContents } = require('@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.worker.js');
// As tfjs-backend-wasm does before making its Blob: the template literal turned \n escapes into newlines.
new Function('require', '__filename', wasmWorkerContents.replace(/\n/g, '\\n'))(require, __filename);
