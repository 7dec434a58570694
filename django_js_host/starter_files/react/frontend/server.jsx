// The host's side (built to dist/server/render.js, which host.config.js requires): a
// component's HTML, for the browser to hydrate.
import {renderToString} from 'react-dom/server';
import components from './components.js';

export function render(component, props) {
  if (!Object.hasOwn(components, component)) {
    const known = Object.keys(components).join(', ');
    throw new Error(`No component ${JSON.stringify(component)} in frontend/components.js (it has: ${known})`);
  }
  const Component = components[component];
  return renderToString(<Component {...props} />);
}
