// The browser's side (built to dist/static/frontend/client.js): hydrate each component that
// templates/react_component.html put in the page, with the props written after it.
import {hydrateRoot} from 'react-dom/client';
import components from './components.js';

for (const root of document.querySelectorAll('[data-react-component]')) {
  const Component = components[root.dataset.reactComponent];
  const props = JSON.parse(root.nextElementSibling.textContent);
  hydrateRoot(root, <Component {...props} />);
}
