/*
  "Sign in with wallet" for the GraphiQL explorer (served as-is by api/explorer, no build step).

  Built only from GraphiQL's extension points, never by patching its bundle:
  - a sidebar plugin (`plugins` prop: { title, icon, content }) with the control itself;
  - a toolbar button (`toolbar.additionalComponent`) that opens the plugin, showing the state;
  - a fetcher wrapping GraphiQL.createFetcher that adds `Authorization: Bearer <jwt>` to the
    headers GraphiQL passes it (the headers editor's). A header typed in the editor wins, so a
    hand-pasted token still works. The token is not written into the headers editor: every tab
    has its own headers, tabs are persisted in localStorage, and the token rotates on refresh.

  The session lives in this page's memory only (never in storage): reloading signs out locally.

  Flow: window.ethereum (EIP-1193) `eth_requestAccounts` -> `exchanges` + `serverTime` ->
  `personal_sign` (EIP-191) or `eth_signTypedData_v4` (EIP-712) of `text + "\n" + timestamp` ->
  `onboard(isClient: true)` -> signed in. Before the access JWT expires `refreshSession` swaps the
  single-use refresh token for a new session (one refresh at a time: presenting a spent refresh
  token twice would end the whole session family). `logout` ends the session on the server.
*/
(function () {
  "use strict";

  var h = React.createElement;
  var ui = GraphiQL.React;
  var PLUGIN_TITLE = "Wallet sign-in";
  // Sign-in texts carry their own expiry; `onboard` accepts at most 600 s ahead of server time.
  var SIGNATURE_LIFETIME_SECONDS = 300;
  // Refresh this long before the access JWT expires (a tenth of its lifetime when shorter).
  var REFRESH_MARGIN_SECONDS = 300;

  var EXCHANGES_QUERY =
    "query SignInTexts { exchanges { id signInTexts eip712Domain { name version chainId } } serverTime }";
  var ONBOARD_MUTATION =
    "mutation Onboard($input: OnboardInput!) { onboard(input: $input) { jwt refreshToken profile { id wallet } } }";
  var REFRESH_MUTATION =
    "mutation Refresh($refreshToken: String!) { refreshSession(refreshToken: $refreshToken) { jwt refreshToken } }";
  var LOGOUT_MUTATION = "mutation Logout { logout }";

  function createWalletSignIn(graphqlUrl) {
    var state = { status: "signed-out", message: "" };
    var listeners = new Set();
    var refreshTimer = null;
    var refreshing = null;
    var clockSkewMs = 0; // server time minus this page's time, measured at sign-in

    function setState(next) {
      state = Object.assign({}, state, next);
      listeners.forEach(function (listener) {
        listener();
      });
    }
    function subscribe(listener) {
      listeners.add(listener);
      return function () {
        listeners.delete(listener);
      };
    }
    function snapshot() {
      return state;
    }
    function serverNowSeconds() {
      return (Date.now() + clockSkewMs) / 1000;
    }

    // One GraphQL operation outside GraphiQL's editors; throws with the error's code.
    async function graphql(query, variables, jwt) {
      var headers = { "Content-Type": "application/json", Accept: "application/json" };
      if (jwt) headers.Authorization = "Bearer " + jwt;
      var response = await fetch(graphqlUrl, {
        method: "POST",
        headers: headers,
        body: JSON.stringify({ query: query, variables: variables || {} }),
        credentials: "same-origin",
      });
      var body = await response.json();
      if (body.errors && body.errors.length) {
        var error = body.errors[0];
        var code = error.extensions && error.extensions.code;
        var failure = new Error(code ? code + ": " + error.message : error.message);
        failure.code = code;
        throw failure;
      }
      return body.data;
    }

    function jwtClaims(jwt) {
      var part = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      return JSON.parse(atob(part + "===".slice((part.length + 3) % 4)));
    }

    function utf8Hex(text) {
      var bytes = new TextEncoder().encode(text);
      var hex = "0x";
      for (var i = 0; i < bytes.length; i += 1) hex += bytes[i].toString(16).padStart(2, "0");
      return hex;
    }

    function typedData(exchange, text, timestamp) {
      return {
        types: {
          EIP712Domain: [
            { name: "name", type: "string" },
            { name: "version", type: "string" },
            { name: "chainId", type: "uint256" },
          ],
          signin: [
            { name: "message", type: "string" },
            { name: "timestamp", type: "uint256" },
          ],
        },
        primaryType: "signin",
        domain: exchange.eip712Domain,
        message: { message: text, timestamp: timestamp },
      };
    }

    function startSession(tokens) {
      var claims = jwtClaims(tokens.jwt);
      var lifetime = claims.exp - claims.iat;
      var refreshAt = claims.exp - Math.min(REFRESH_MARGIN_SECONDS, lifetime / 10);
      clearTimeout(refreshTimer);
      refreshTimer = setTimeout(
        refreshNow,
        Math.max(1000, (refreshAt - serverNowSeconds()) * 1000),
      );
      setState({
        status: "signed-in",
        jwt: tokens.jwt,
        refreshToken: tokens.refreshToken,
        expiresAt: claims.exp,
        message: "",
      });
    }

    function endSession(message) {
      clearTimeout(refreshTimer);
      refreshTimer = null;
      setState({
        status: "signed-out",
        jwt: null,
        refreshToken: null,
        wallet: null,
        profileId: null,
        expiresAt: null,
        refreshes: 0,
        message: message || "",
      });
    }

    function refreshNow() {
      if (refreshing) return refreshing;
      if (!state.refreshToken) return Promise.resolve();
      refreshing = graphql(REFRESH_MUTATION, { refreshToken: state.refreshToken })
        .then(function (data) {
          var refreshes = (state.refreshes || 0) + 1;
          startSession(data.refreshSession);
          setState({ refreshes: refreshes });
        })
        .catch(function (error) {
          endSession("The session could not be refreshed (" + error.message + "). Sign in again.");
        })
        .finally(function () {
          refreshing = null;
        });
      return refreshing;
    }

    async function signIn(exchangeId, scheme) {
      var wallet = window.ethereum;
      if (!wallet || typeof wallet.request !== "function") {
        setState({ status: "no-wallet", message: noWalletMessage });
        return;
      }
      setState({ status: "signing-in", message: "Waiting for the wallet…" });
      try {
        var accounts = await wallet.request({ method: "eth_requestAccounts" });
        if (!accounts || !accounts.length) throw new Error("The wallet shared no account.");
        var account = accounts[0];
        var sent = Date.now();
        var info = await graphql(EXCHANGES_QUERY);
        clockSkewMs = info.serverTime * 1000 - (sent + Date.now()) / 2;
        var exchange = info.exchanges.find(function (candidate) {
          return candidate.id === exchangeId;
        });
        if (!exchange) throw new Error("The service does not onboard to exchange " + exchangeId + ".");
        var text = exchange.signInTexts[0];
        var timestamp = Number(info.serverTime) + SIGNATURE_LIFETIME_SECONDS;
        setState({ message: "Sign the message in your wallet…" });
        var signature =
          scheme === "eip712"
            ? await wallet.request({
                method: "eth_signTypedData_v4",
                params: [account, JSON.stringify(typedData(exchange, text, timestamp))],
              })
            : await wallet.request({
                method: "personal_sign",
                params: [utf8Hex(text + "\n" + timestamp), account],
              });
        var data = await graphql(ONBOARD_MUTATION, {
          input: {
            wallet: account,
            signature: signature,
            timestamp: timestamp,
            isClient: true,
            exchangeId: exchange.id,
          },
        });
        var onboard = data.onboard;
        setState({
          wallet: onboard.profile.wallet,
          profileId: onboard.profile.id,
          exchangeId: exchange.id,
          refreshes: 0,
        });
        startSession(onboard);
      } catch (error) {
        // EIP-1193 code 4001: the user said no in the wallet.
        var refused = error && error.code === 4001;
        endSession(refused ? "The wallet refused the request." : "Sign-in failed: " + error.message);
      }
    }

    async function signOut() {
      var jwt = state.jwt;
      setState({ status: "signing-out", message: "" });
      try {
        if (jwt) await graphql(LOGOUT_MUTATION, {}, jwt);
        endSession("Signed out.");
      } catch (error) {
        // The session is over for this page either way; say what the server answered.
        endSession("Signed out here; the server answered " + error.message + ".");
      }
    }

    // GraphiQL calls this for every operation it runs (and for introspection).
    function wrapFetcher(base) {
      return async function (params, options) {
        if (state.jwt && state.expiresAt && serverNowSeconds() >= state.expiresAt - 5) {
          await refreshNow(); // e.g. the laptop slept through the timer
        }
        var headers = Object.assign({}, options && options.headers);
        var typed = Object.keys(headers).some(function (name) {
          return name.toLowerCase() === "authorization";
        });
        if (state.jwt && !typed) headers.Authorization = "Bearer " + state.jwt;
        return base(params, Object.assign({}, options, { headers: headers }));
      };
    }

    var noWalletMessage =
      "No wallet found in this page: install a browser wallet (it provides window.ethereum), then reload.";

    function useSession() {
      return React.useSyncExternalStore(subscribe, snapshot);
    }

    function WalletIcon(props) {
      return h(
        "svg",
        {
          className: props && props.className,
          viewBox: "0 0 24 24",
          fill: "none",
          stroke: "currentColor",
          strokeWidth: 1.5,
          "aria-hidden": "true",
        },
        h("rect", { x: 3, y: 6, width: 18, height: 13, rx: 2 }),
        h("path", { d: "M16 12.5h2M3 9h15a2 2 0 0 0-2-3H5" }),
      );
    }

    function row(label, value, testId) {
      return h(
        "div",
        { className: "wallet-signin-row" },
        h("span", { className: "wallet-signin-label" }, label),
        h("code", { "data-testid": testId }, value),
      );
    }

    function SignInPanel() {
      var session = useSession();
      var exchanges = React.useState([]);
      var exchangeId = React.useState("rbx");
      var scheme = React.useState("personal_sign");
      var hasWallet = typeof window.ethereum !== "undefined";

      React.useEffect(function () {
        graphql(EXCHANGES_QUERY)
          .then(function (data) {
            exchanges[1](data.exchanges.map(function (exchange) { return exchange.id; }));
          })
          .catch(function () {});
      }, []);

      var busy = session.status === "signing-in" || session.status === "signing-out";
      var children = [h("div", { className: "graphiql-doc-explorer-title", key: "title" }, "Sign in with wallet")];

      if (session.status === "signed-in") {
        children.push(
          h(
            "div",
            { key: "signed-in", "data-testid": "wallet-session" },
            h("p", null, "Signed in. Every operation now sends Authorization: Bearer <jwt>."),
            row("Wallet", session.wallet, "wallet-address"),
            row("Profile id", session.profileId, "wallet-profile-id"),
            row("Exchange", session.exchangeId, "wallet-exchange"),
            row("JWT expires", new Date(session.expiresAt * 1000).toISOString(), "wallet-expires"),
            row("Refreshed", String(session.refreshes || 0) + "×", "wallet-refreshes"),
            h(ui.Button, { type: "button", onClick: signOut, "data-testid": "wallet-sign-out" }, "Sign out"),
          ),
        );
      } else {
        children.push(
          h(
            "div",
            { key: "signed-out" },
            h(
              "label",
              { className: "wallet-signin-row" },
              h("span", { className: "wallet-signin-label" }, "Exchange"),
              h(
                "select",
                { value: exchangeId[0], onChange: function (event) { exchangeId[1](event.target.value); } },
                (exchanges[0].length ? exchanges[0] : ["rbx"]).map(function (id) {
                  return h("option", { key: id, value: id }, id);
                }),
              ),
            ),
            h(
              "label",
              { className: "wallet-signin-row" },
              h("span", { className: "wallet-signin-label" }, "Signature"),
              h(
                "select",
                { value: scheme[0], onChange: function (event) { scheme[1](event.target.value); } },
                h("option", { value: "personal_sign" }, "personal_sign (EIP-191)"),
                h("option", { value: "eip712" }, "eth_signTypedData_v4 (EIP-712)"),
              ),
            ),
            h(
              ui.Button,
              {
                type: "button",
                disabled: busy,
                "data-testid": "wallet-sign-in",
                onClick: function () {
                  signIn(exchangeId[0], scheme[0]);
                },
              },
              "Sign in with wallet",
            ),
            !hasWallet && session.status === "signed-out" && !session.message
              ? h("p", { className: "wallet-signin-note" }, noWalletMessage)
              : null,
          ),
        );
      }
      if (session.message) {
        children.push(h("p", { key: "message", className: "wallet-signin-note", "data-testid": "wallet-message", role: "status" }, session.message));
      }
      return h("div", { className: "wallet-signin" }, children);
    }

    // A toolbar button beside prettify/copy that opens the panel; its label tells the state.
    function ToolbarControl() {
      var session = useSession();
      var plugins = ui.usePluginContext();
      var label =
        session.status === "signed-in"
          ? "Signed in as " + session.wallet + " (profile " + session.profileId + ")"
          : "Sign in with wallet";
      return h(
        ui.ToolbarButton,
        {
          label: label,
          "data-testid": "wallet-toolbar",
          onClick: function () {
            if (plugins) plugins.setVisiblePlugin(PLUGIN_TITLE);
          },
        },
        h(WalletIcon, { className: "graphiql-toolbar-icon" }),
      );
    }

    return {
      plugin: { title: PLUGIN_TITLE, icon: WalletIcon, content: SignInPanel },
      toolbar: { additionalComponent: ToolbarControl },
      wrapFetcher: wrapFetcher,
    };
  }

  window.createWalletSignIn = createWalletSignIn;
})();
