import type { ReactNode } from "react";
import { Navigate, Outlet, Route, Routes, useLocation } from "react-router";
import { Loading } from "../components/Loading";
import { ChangePasswordPage } from "../features/session/components/ChangePasswordPage";
import { LoginPage } from "../features/session/components/LoginPage";
import { SignUpPage } from "../features/session/components/SignUpPage";
import { Allowed } from "../lib/allowed";
import { useSessionState } from "../lib/app-context";
import { LOGGED_OUT } from "../lib/session";
import { screens } from "./routes";
import { PlainLayout, Shell } from "./Shell";
import { NotAllowed, NotFound } from "./StatusPages";

function RequireSession({ children }: { children: ReactNode }) {
  const state = useSessionState();
  const location = useLocation();
  if (state.status === "restoring") return <Loading what="Restoring your session" />;
  if (state.status === "anonymous") {
    // After a log-out the next person starts afresh; otherwise log-in leads back here.
    const from = state.notice === LOGGED_OUT ? undefined : location.pathname + location.search;
    return <Navigate to="/" replace state={{ from, notice: state.notice ?? "Please log in first." }} />;
  }
  return children;
}

// Logged in already (or just now): on to the screen that sent the visitor to log in.
function AnonymousOnly({ children }: { children: ReactNode }) {
  const state = useSessionState();
  const location = useLocation();
  if (state.status === "restoring") return <Loading what="Restoring your session" />;
  if (state.status === "authenticated") {
    const from = (location.state as { from?: unknown } | null)?.from;
    return <Navigate to={typeof from === "string" ? from : "/my-tasks"} replace />;
  }
  return children;
}

// Changing a password works logged in (in the shell) and logged out (the forced change).
function PasswordRoute() {
  const state = useSessionState();
  if (state.status === "restoring") return <Loading what="Restoring your session" />;
  const page = <ChangePasswordPage />;
  return state.status === "authenticated" ? <Shell>{page}</Shell> : <PlainLayout>{page}</PlainLayout>;
}

function SignedInLayout() {
  return (
    <RequireSession>
      <Shell>
        <Outlet />
      </Shell>
    </RequireSession>
  );
}

function SignedOutLayout() {
  return (
    <PlainLayout>
      <AnonymousOnly>
        <Outlet />
      </AnonymousOnly>
    </PlainLayout>
  );
}

export function AppRoutes() {
  return (
    <Routes>
      <Route element={<SignedOutLayout />}>
        <Route path="/" element={<LoginPage />} />
        <Route path="/sign-up" element={<SignUpPage />} />
      </Route>
      <Route path="/password" element={<PasswordRoute />} />
      <Route element={<SignedInLayout />}>
        {screens.map(({ path, label, roles, Screen }) => (
          <Route
            key={path}
            path={path}
            element={
              <>
                <title>{`${label} · aTES`}</title>
                <Allowed roles={roles} fallback={<NotAllowed />}>
                  <Screen />
                </Allowed>
              </>
            }
          />
        ))}
      </Route>
      <Route
        path="*"
        element={
          <PlainLayout>
            <NotFound />
          </PlainLayout>
        }
      />
    </Routes>
  );
}
