import type { ApolloServerPlugin } from "@apollo/server";

/**
 * Apollo Sandbox, embedded, with the subscription endpoint pre-set to this same URL over ws(s)://, so a
 * developer can run a subscription from the browser without touching Sandbox's connection settings
 * (Apollo Server's built-in landing page has no option for it).
 */
export function sandboxLandingPage(): ApolloServerPlugin {
  const html = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8" />
<title>flashgraph — Apollo Sandbox</title>
<style>html, body { margin: 0; height: 100%; } #sandbox { position: absolute; inset: 0; }</style>
</head>
<body>
<div id="sandbox"></div>
<script src="https://embeddable-sandbox.cdn.apollographql.com/_latest/embeddable-sandbox.umd.production.min.js"></script>
<script>
  var endpoint = window.location.href.split("?")[0];
  window.flashgraphSandbox = {
    initialEndpoint: endpoint,
    initialSubscriptionEndpoint: endpoint.replace(/^http/, "ws"),
  };
  if (window.EmbeddedSandbox) {
    new window.EmbeddedSandbox({
      target: "#sandbox",
      initialEndpoint: window.flashgraphSandbox.initialEndpoint,
      initialSubscriptionEndpoint: window.flashgraphSandbox.initialSubscriptionEndpoint,
      endpointIsEditable: false,
      includeCookies: false,
    });
  } else {
    document.getElementById("sandbox").textContent =
      "Apollo Sandbox could not be loaded (offline?). GraphQL: " + endpoint + " — subscriptions: " + window.flashgraphSandbox.initialSubscriptionEndpoint;
  }
</script>
</body>
</html>`;
  return {
    async serverWillStart() {
      return {
        async renderLandingPage() {
          return { html };
        },
      };
    },
  };
}
