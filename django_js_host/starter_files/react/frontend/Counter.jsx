// A component rendered twice: to HTML by the host (server.jsx), then hydrated in the browser
// (client.jsx) with the same props, so the two renders must agree.
import {useEffect, useState} from 'react';

export default function Counter({label, start = 0}) {
  const [count, setCount] = useState(start);
  // Effects run only in the browser, once React has hydrated the markup: until then (and in
  // the host's HTML) the button is disabled, as it does nothing before hydration.
  const [hydrated, setHydrated] = useState(false);
  useEffect(() => setHydrated(true), []);

  return (
    <p className="counter">
      {label}: <output>{count}</output>{' '}
      <button type="button" disabled={!hydrated} onClick={() => setCount((value) => value + 1)}>
        Add one
      </button>
    </p>
  );
}
