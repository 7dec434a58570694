// The component of the example's home page. One source, two builds (npm run build:example):
// esbuild bundles it for the browser (client.jsx hydrates it) and compiles it for Node
// (dist/server/ItemCounter.js, which the host imports to render it with renderToString).
import {useEffect, useState} from 'react';

export default function ItemCounter({items, start}) {
  const [count, setCount] = useState(start);
  // False in the server's HTML and in the first client render (so hydration matches); an
  // effect runs only in the browser, once React has taken the markup over.
  const [hydrated, setHydrated] = useState(false);
  useEffect(() => setHydrated(true), []);

  return (
    <section className="item-counter" data-hydrated={hydrated ? 'true' : 'false'}>
      <ul className="items">
        {items.map((item, index) => (
          <li key={index}>{item}</li>
        ))}
      </ul>
      <p>
        Count: <strong className="count">{count}</strong>
      </p>
      <button type="button" onClick={() => setCount((value) => value + 1)}>
        Add one
      </button>
    </section>
  );
}
