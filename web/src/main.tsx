import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./app/App";
import "./app/app.css";
import { loadConfig } from "./lib/config";

const root = createRoot(document.getElementById("root") as HTMLElement);

// config.json names the API bases and the business time zone: nothing renders before it.
loadConfig()
  .then((config) => {
    root.render(
      <StrictMode>
        <App config={config} />
      </StrictMode>,
    );
  })
  .catch((error: unknown) => {
    root.render(
      <main id="content">
        <h1>aTES could not start</h1>
        <p role="alert">The app configuration could not be loaded: {error instanceof Error ? error.message : String(error)}</p>
        <p>Reload the page to try again.</p>
      </main>,
    );
  });
