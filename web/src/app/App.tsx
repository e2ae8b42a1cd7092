import { BrowserRouter } from "react-router";
import type { AppConfig } from "../lib/config";
import { AppRoutes } from "./AppRoutes";
import { Providers } from "./Providers";

export function App({ config }: { config: AppConfig }) {
  return (
    <Providers config={config}>
      <BrowserRouter>
        <AppRoutes />
      </BrowserRouter>
    </Providers>
  );
}
