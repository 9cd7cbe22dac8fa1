// The app on the phone itself: the service worker that keeps it for offline start, and our own install button
// where Chrome offers to install the app (manifest, icons, service worker) instead of its banner.

import { $, show } from "./dom.js";

export function registerServiceWorker() {
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("sw.js", { scope: "./" }).catch(() => {}); // without it the app still works online
  }
}

export function wireInstall() {
  let installPrompt = null;
  window.addEventListener("beforeinstallprompt", (event) => {
    event.preventDefault();
    installPrompt = event;
    show("instalar", true);
  });
  $("instalar").addEventListener("click", async () => {
    if (!installPrompt) return;
    installPrompt.prompt();
    await installPrompt.userChoice;
    installPrompt = null;
    show("instalar", false);
  });
  window.addEventListener("appinstalled", () => show("instalar", false));
}
