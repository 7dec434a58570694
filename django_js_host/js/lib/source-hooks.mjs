// sources.js's load hook on a Node without module.registerHooks (older than 22.15 and 23.5).
// It runs on Node's module loader thread: each file an import loads is posted to the host's
// thread through `port`, and a {sync} message is answered after every post before it, so
// the host can know it has heard of all the loads so far.

let port;

export function initialize(data) {
  port = data.port;
  port.on('message', ({sync}) => port.postMessage({synced: sync}));
}

export async function load(url, context, nextLoad) {
  const loaded = await nextLoad(url, context);
  port.postMessage({url, format: loaded.format});
  return loaded;
}
