// The browser's entry point: hydrate the markup the host rendered into #root, with the same
// props, which the page carries in <script id="item-counter-props" type="application/json">
// (Django's json_script filter).
import {hydrateRoot} from 'react-dom/client';
import ItemCounter from './ItemCounter.jsx';

const props = JSON.parse(document.getElementById('item-counter-props').textContent);
hydrateRoot(document.getElementById('root'), <ItemCounter {...props} />);
