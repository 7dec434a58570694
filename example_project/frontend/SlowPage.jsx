// The streamed page's component (/streaming/). Its shell is sent at once; the part inside
// <Suspense> waits for data that takes `delay` ms (a slow query, a remote API), so React
// sends the fallback in its place first, and the part itself, with a script that swaps it
// in, once the data is there. The host streams both as React makes them
// (renderToPipeableStream in host.config.js), and Django passes them on (StreamingHttpResponse).
import {Suspense, use, useEffect, useState} from 'react';

// What the slow part says once its data is in: made from the props alone, so the browser
// renders the same text when it hydrates, without waiting.
export function slowText({delay, items}) {
  return `Loaded after ${delay} ms: ${items.join(', ')}.`;
}

// `slow` is the data as a promise on the server; in the browser, its text.
function SlowPart({slow}) {
  const text = typeof slow === 'string' ? slow : use(slow);
  return <p className="slow-part">{text}</p>;
}

export default function SlowPage({items, delay, slow}) {
  const [hydrated, setHydrated] = useState(false);
  const [clicks, setClicks] = useState(0);
  useEffect(() => setHydrated(true), []);

  return (
    <section className="slow-page" data-hydrated={hydrated ? 'true' : 'false'}>
      <p className="shell">
        This paragraph is the shell: it reached your browser at once, before the part below was ready.
      </p>
      <Suspense fallback={<p className="loading">Loading the slow part ({delay} ms)…</p>}>
        <SlowPart slow={slow} />
      </Suspense>
      <button type="button" onClick={() => setClicks((value) => value + 1)}>
        Clicked <span className="clicks">{clicks}</span> times
      </button>
    </section>
  );
}
