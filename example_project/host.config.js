// The example site's functions: an ES module, as the package.json beside it says. The host
// loads this file once and keeps it in memory, so React, react-dom/server and markdown-it are
// imported once, not per request. They come from the repository's node_modules (`npm ci` at
// the top of the repository; `make example` runs it).
import MarkdownIt from 'markdown-it';
import {createElement} from 'react';
import {renderToString} from 'react-dom/server';

// The home page's component, compiled from frontend/ItemCounter.jsx by the same esbuild step
// that bundles it for the browser (npm run build:example), so server and client render the
// same code. Under the development manager, rebuilding it restarts the host. Imported with a
// top-level await, so that a missing build says how to make it.
let ItemCounter;
try {
  ({default: ItemCounter} = await import('./dist/server/ItemCounter.js'));
} catch (error) {
  if (error.code !== 'ERR_MODULE_NOT_FOUND') throw error;
  throw new Error(
    `${new URL('dist/server/ItemCounter.js', import.meta.url).pathname} is not built: run ` +
      '`npm ci && npm run build:example` at the top of the repository (`make example` does).',
  );
}

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

    render_markdown({text}) {
      return markdown.render(text);
    },

    greet(data, cb) {
      cb(null, `Hello, ${data.name}! (${this.name} ran in Node ${process.version})`);
    },
  },
};
