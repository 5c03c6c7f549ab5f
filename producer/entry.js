// The producer's entry module: a plain module-worker object around worker-build's output.
//
// worker-build exports a class (a `WorkerEntrypoint`) behind a Proxy, so that each request
// constructs an instance and two Proxies before it reaches the Rust `fetch` (about 4 % of the
// producer isolate's CPU profile, docs/PERFORMANCE.md). Its `fetch` needs only `this.env` and
// `this.ctx`, so this object calls it with those directly.
//
// What the Proxy adds is kept: after a wasm trap (a panic aborts), the shim's state says so,
// and the next request goes through the class, whose constructor starts a fresh wasm instance.
import Entrypoint from "./build/index.js";

const { fetch: handle } = Entrypoint.prototype;

function trapped(error) {
  if (error instanceof WebAssembly.RuntimeError) {
    globalThis.__worker_init_state.criticalError = true;
  }
  throw error;
}

export default {
  fetch(request, env, ctx) {
    if (globalThis.__worker_init_state.criticalError) {
      return new Entrypoint(ctx, env).fetch(request);
    }
    return handle.call({ env, ctx }, request).catch(trapped);
  },
};
