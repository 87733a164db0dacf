import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App, type StorefrontConfig } from "./App.tsx";
import { adoptTokenFromLocation } from "./session.ts";
import "./styles.css";

// Where the router is comes from the storefront's server at run time, so one build serves every environment.
adoptTokenFromLocation();
const config = (await (await fetch("/config.json")).json()) as StorefrontConfig;
createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <App config={config} />
  </StrictMode>,
);
