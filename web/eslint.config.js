import js from "@eslint/js";
import importPlugin from "eslint-plugin-import";
import reactHooks from "eslint-plugin-react-hooks";
import globals from "globals";
import tseslint from "typescript-eslint";

const features = ["session", "tasks", "money", "accounting", "analytics", "people"];

// One-way code flow: app -> features -> components/lib; no feature imports another.
const layerZones = [
  { target: "./src/lib", from: ["./src/app", "./src/features", "./src/components"], message: "lib is the bottom layer." },
  { target: "./src/components", from: ["./src/app", "./src/features"], message: "Shared components may not use features or app." },
  { target: "./src/features", from: "./src/app", message: "Features may not use app." },
  ...features.map((feature) => ({
    target: `./src/features/${feature}`,
    from: "./src/features",
    except: [`./${feature}`],
    message: "A feature may not import another feature; move the shared piece to components/ or lib/.",
  })),
];

export default tseslint.config(
  { ignores: ["dist", "node_modules", "src/lib/api/auth.ts", "src/lib/api/tasks.ts", "src/lib/api/accounting.ts", "src/lib/api/analytics.ts"] },
  js.configs.recommended,
  ...tseslint.configs.strict,
  {
    files: ["src/**/*.{ts,tsx}"],
    languageOptions: { globals: globals.browser },
    plugins: { import: importPlugin, "react-hooks": reactHooks },
    settings: {
      "import/resolver": { typescript: { project: "./tsconfig.json" }, node: { extensions: [".ts", ".tsx"] } },
    },
    rules: {
      ...reactHooks.configs.recommended.rules,
      "import/no-restricted-paths": ["error", { zones: layerZones }],
      "import/no-cycle": "error",
      "import/no-unresolved": "error",
      "no-restricted-imports": [
        "error",
        { patterns: [{ group: ["**/index", "**/index.ts", "**/index.tsx"], message: "Import files directly; no barrel files." }] },
      ],
      "no-restricted-syntax": [
        "error",
        { selector: "JSXAttribute[name.name='dangerouslySetInnerHTML']", message: "Render text, never HTML." },
        { selector: "MemberExpression[object.name='localStorage']", message: "Tokens and API data live in memory only." },
        { selector: "MemberExpression[object.name='sessionStorage']", message: "Tokens and API data live in memory only." },
      ],
    },
  },
  {
    files: ["scripts/**/*.mjs", "eslint.config.js", "vite.config.ts", "playwright.config.ts"],
    languageOptions: { globals: globals.node },
  },
  {
    // The browser tests: Node (Playwright) code that drives the page from outside.
    files: ["e2e/**/*.ts"],
    languageOptions: { globals: globals.node },
    rules: {
      // Playwright fixtures take a destructured first argument even when they use none.
      "no-empty-pattern": "off",
    },
  },
);
