/** Entry point: mounts the app (see App.tsx). */
import { render } from 'preact';
import { App } from './components/App.js';
import './styles.css';

render(<App />, document.getElementById('app')!);
