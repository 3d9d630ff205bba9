"""The marketer's console: pages in a browser over the same `/v1/...` routes partner tools
use. This function serves only the pages, their vendored assets and the sign-in; every
figure on a page comes from another service's JSON API, authenticated by the session
cookie the sign-in sets."""
