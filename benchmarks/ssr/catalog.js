'use strict';
// The page every contestant of benchmarks/ssr.py renders: a catalog of 100 products, each a
// card of nested components (title, price, rating, tags), as a React server-rendered list
// page has it. Plain React.createElement, so no build step is needed.

const React = require('react');
const {renderToString} = require('react-dom/server');

const h = React.createElement;

function Price({cents}) {
  return h('span', {className: 'price'}, `€${(cents / 100).toFixed(2)}`);
}

function Rating({stars}) {
  const full = Math.round(stars);
  return h('span', {className: 'rating', title: `${stars} out of 5`}, '★'.repeat(full) + '☆'.repeat(5 - full));
}

function Tag({tag}) {
  return h('a', {className: 'tag', href: `/tags/${tag}/`}, tag);
}

function ProductCard({item}) {
  return h(
    'li',
    {className: item.inStock ? 'item' : 'item sold-out'},
    h('a', {href: `/items/${item.id}/`}, item.title),
    h(Price, {cents: item.priceCents}),
    h(Rating, {stars: item.stars}),
    item.tags.map((tag) => h(Tag, {key: tag, tag})),
  );
}

function Catalog({title, items}) {
  return h(
    'section',
    {className: 'catalog'},
    h('h1', null, title),
    h('ul', {className: 'items'}, items.map((item) => h(ProductCard, {key: item.id, item}))),
  );
}

// The catalog's HTML for `props` ({title, items}); what the host's function and the bare
// Node server both call.
function renderCatalog(props) {
  return renderToString(h(Catalog, props));
}

module.exports = {renderCatalog};
