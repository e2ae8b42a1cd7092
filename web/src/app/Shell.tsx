import { Suspense, useEffect, useRef, type ReactNode } from "react";
import { NavLink, useLocation, useNavigate } from "react-router";
import { Loading } from "../components/Loading";
import { useLogout } from "../features/session/api/session-mutations";
import { Allowed } from "../lib/allowed";
import { useSessionState } from "../lib/app-context";
import { screens } from "./routes";

function Navigation() {
  return (
    <nav aria-label="Main" className="main-nav">
      <ul>
        {screens.map((screen) => (
          <Allowed key={screen.path} roles={screen.roles}>
            <li>
              <NavLink to={screen.path}>{screen.label}</NavLink>
            </li>
          </Allowed>
        ))}
      </ul>
    </nav>
  );
}

function Account() {
  const state = useSessionState();
  const logout = useLogout();
  const navigate = useNavigate();
  if (state.status !== "authenticated") return null;
  return (
    <div className="account">
      <span>
        {state.claims.email} <span className="role">({state.claims.role})</span>
      </span>
      <NavLink to="/password">Change password</NavLink>
      <button type="button" onClick={() => logout.mutate(undefined, { onSettled: () => navigate("/", { replace: true }) })} disabled={logout.isPending}>
        Log out
      </button>
    </div>
  );
}

// After moving to another screen, keyboard and screen-reader users start at its content.
function useFocusOnNavigation() {
  const main = useRef<HTMLElement>(null);
  const { pathname } = useLocation();
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    main.current?.focus();
  }, [pathname]);
  return main;
}

export function Shell({ children }: { children: ReactNode }) {
  const main = useFocusOnNavigation();
  return (
    <>
      <a href="#content" className="skip-link">
        Skip to content
      </a>
      <header className="shell-header">
        <span className="brand">aTES</span>
        <Navigation />
        <Account />
      </header>
      <main id="content" tabIndex={-1} ref={main}>
        <Suspense fallback={<Loading />}>{children}</Suspense>
      </main>
    </>
  );
}

export function PlainLayout({ children }: { children: ReactNode }) {
  return (
    <main id="content" className="plain">
      <Suspense fallback={<Loading />}>{children}</Suspense>
    </main>
  );
}
