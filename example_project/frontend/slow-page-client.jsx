// The browser's entry point of /streaming/: hydrate the streamed markup in #slow-page-root
// with the same props, which the page carries in <script id="slow-page-props">.
import {hydrateRoot} from 'react-dom/client';
import SlowPage, {slowText} from './SlowPage.jsx';

const props = JSON.parse(document.getElementById('slow-page-props').textContent);
hydrateRoot(document.getElementById('slow-page-root'), <SlowPage {...props} slow={slowText(props)} />);
