// The components a template can render by name, on the server and in the browser:
//     {% include "react_component.html" with component="Counter" props=props %}
// Add yours here.
import Counter from './Counter.jsx';

export default {Counter};
