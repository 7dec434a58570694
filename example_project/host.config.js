// The example site's functions. The host loads this file once and keeps it in memory, so
// React, react-dom/server and markdown-it are required once, not per request. They come from
// the repository's node_modules (`npm ci` at the top of the repository; `make example` runs it).
const React = require('react');
const {renderToString} = require('react-dom/server');
const MarkdownIt = require('markdown-it');

// The home page's component, compiled from frontend/ItemCounter.jsx by the same esbuild step
// that bundles it for the browser (npm run build:example), so server and client render the
// same code. Under the development manager, rebuilding it restarts the host.
let ItemCounter;
try {
  ItemCounter = require('./dist/server/ItemCounter.js').default;
} catch (error) {
  if (error.code !== 'MODULE_NOT_FOUND') throw error;
  throw new Error(
    `${__dirname}/dist/server/ItemCounter.js is not built: run \`npm ci && npm run build:example\` ` +
      'at the top of the repository (`make example` does).',
  );
}

// Markdown from anyone, rendered to HTML that is safe to insert unescaped (the page uses
// {% js_function_html %}): with html: false, raw HTML in the source (a <script>, an onclick)
// comes out as escaped text, and markdown-it's validateLink refuses javascript:, vbscript:,
// file: and data: URLs (but for a few image types) in links and images.
const markdown = new MarkdownIt({html: false, linkify: true, typographer: true});

module.exports = {
  functions: {
    // The component's HTML for hydration: renderToString escapes every string it inserts.
    render_component({props}, cb) {
      cb(null, renderToString(React.createElement(ItemCounter, props)));
    },

    render_markdown({text}, cb) {
      cb(null, markdown.render(text));
    },

    greet(data, cb) {
      cb(null, `Hello, ${data.name}! (${this.name} ran in Node ${process.version})`);
    },
  },
};
