//! HTTP traffic front end: the route API, HTTPDNS, 302 redirects and admission control.
