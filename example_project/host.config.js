// The example site's functions: an ES module, as the package.json beside it says. The host
// loads this file once and keeps it in memory, so React, react-dom/server and markdown-it are
// imported once, not per request. They come from the repository's node_modules (`npm ci` at
// the top of the repository; `make example` runs it).
import {PassThrough} from 'node:stream';

import MarkdownIt from 'markdown-it';
import {createElement} from 'react';
import {renderToPipeableStream, renderToString} from 'react-dom/server';

// The pages' components, compiled from frontend/*.jsx by the same esbuild step that bundles
// them for the browser (npm run build:example), so server and client render the same code.
// Under the development manager, rebuilding them restarts the host. Imported with a
// top-level await, so that a missing build says how to make it.
async function importBuilt(file) {
  try {
    return await import(`./dist/server/${file}`);
  } catch (error) {
    if (error.code !== 'ERR_MODULE_NOT_FOUND') throw error;
    throw new Error(
      `${new URL(`dist/server/${file}`, import.meta.url).pathname} is not built: run ` +
        '`npm ci && npm run build:example` at the top of the repository (`make example` does).',
    );
  }
}
const {default: ItemCounter} = await importBuilt('ItemCounter.js');
const {default: SlowPage, slowText} = await importBuilt('SlowPage.js');

// Markdown from anyone, rendered to HTML that is safe to insert unescaped (the page uses
// {% js_function_html %}): with html: false, raw HTML in the source (a <script>, an onclick)
// comes out as escaped text, and markdown-it's validateLink refuses javascript:, vbscript:,
// file: and data: URLs (but for a few image types) in links and images.
const markdown = new MarkdownIt({html: false, linkify: true, typographer: true});

// A function answers with what it returns (or the promise it returns resolves to); one that
// declares a callback, fn(data, cb), answers through it.
export default {
  functions: {
    // The component's HTML for hydration: renderToString escapes every string it inserts.
    render_component({props}) {
      return renderToString(createElement(ItemCounter, props));
    },

    // /streaming/: a stream of the component's HTML, which the host sends on as React makes
    // it: the shell (with the fallback of its <Suspense>) at once, the slow part `delay` ms
    // later. The promise resolves with the stream once the shell is ready, so an error in
    // the shell is the call's error (a 500); React reports an error inside the boundary to
    // onError and the browser renders that part instead. When the caller stops waiting
    // (the visitor went away), this.signal aborts and React stops rendering.
    render_slow_page({props}) {
      const slow = new Promise((resolve) => setTimeout(resolve, props.delay, slowText(props)));
      return new Promise((resolve, reject) => {
        const {pipe, abort} = renderToPipeableStream(createElement(SlowPage, {...props, slow}), {
          onShellReady() {
            resolve(pipe(new PassThrough()));
          },
          onShellError: reject,
          onError(error) {
            console.error(`render_slow_page: ${error.stack ?? error}`);
          },
        });
        this.signal.addEventListener('abort', () => abort(this.signal.reason));
      });
    },

    render_markdown({text}) {
      return markdown.render(text);
    },

    greet(data, cb) {
      cb(null, `Hello, ${data.name}! (${this.name} ran in Node ${process.version})`);
    },
  },
};
