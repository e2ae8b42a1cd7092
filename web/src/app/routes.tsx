import { lazy, type ComponentType, type LazyExoticComponent } from "react";
import type { Role } from "../lib/roles";

export interface ScreenRoute {
  path: string;
  label: string;
  roles: readonly Role[];
  Screen: LazyExoticComponent<ComponentType>;
}

const everyone: readonly Role[] = ["admin", "manager", "accountant", "worker"];

// The one list of screens: the router and the navigation are both built from it.
export const screens: readonly ScreenRoute[] = [
  {
    path: "/my-tasks",
    label: "My tasks",
    roles: everyone,
    Screen: lazy(() => import("../features/tasks/components/MyTasksPage").then((m) => ({ default: m.MyTasksPage }))),
  },
  {
    path: "/tasks",
    label: "Tasks",
    roles: everyone,
    Screen: lazy(() => import("../features/tasks/components/TasksPage").then((m) => ({ default: m.TasksPage }))),
  },
  {
    path: "/my-money",
    label: "My money",
    roles: everyone,
    Screen: lazy(() => import("../features/money/components/MyMoneyPage").then((m) => ({ default: m.MyMoneyPage }))),
  },
  {
    path: "/accounting",
    label: "Accounting",
    roles: ["admin", "accountant"],
    Screen: lazy(() => import("../features/accounting/components/AccountingPage").then((m) => ({ default: m.AccountingPage }))),
  },
  {
    path: "/analytics",
    label: "Analytics",
    roles: ["admin"],
    Screen: lazy(() => import("../features/analytics/components/AnalyticsPage").then((m) => ({ default: m.AnalyticsPage }))),
  },
  {
    path: "/people",
    label: "People",
    roles: ["admin"],
    Screen: lazy(() => import("../features/people/components/PeoplePage").then((m) => ({ default: m.PeoplePage }))),
  },
];
