//! Requests prepared once per run: what does not change between requests — method, origin,
//! path, headers, body — is parsed and built before the load starts, and a request renders only
//! its templated parts. A request with no template at all is sent as prepared, without a copy.

use std::borrow::Cow;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, USER_AGENT};
use http::uri::PathAndQuery;

use super::http::{Origin, Outgoing, path_of};
use crate::scenario::model::{Body, CaptureSource, Check, HttpMethod, RequestSpec, Target};
use crate::template::{RenderContext, Template, VarTable};

/// The base URL, parsed once.
#[derive(Debug, Clone)]
pub(crate) struct Base {
    origin: Arc<Origin>,
    /// The base URL's path without its trailing `/` (`""` for `http://host:port`).
    prefix: String,
}

impl Base {
    /// Parse the target's base URL.
    pub(crate) fn new(base_url: &str) -> Result<Self, String> {
        let (origin, path) = Origin::split(base_url)?;
        Ok(Self {
            origin: Arc::new(origin),
            prefix: path.path().trim_end_matches('/').to_owned(),
        })
    }

    /// Where a rendered path or absolute URL goes.
    fn resolve(&self, url: &str) -> Result<(Arc<Origin>, PathAndQuery), String> {
        if url.starts_with("http://") || url.starts_with("https://") {
            let (origin, path) = Origin::split(url)?;
            let origin = if origin == *self.origin {
                self.origin.clone()
            } else {
                Arc::new(origin)
            };
            return Ok((origin, path));
        }
        let mut joined = String::with_capacity(self.prefix.len() + url.len() + 1);
        joined.push_str(&self.prefix);
        if !url.starts_with('/') {
            joined.push('/');
        }
        joined.push_str(url);
        match PathAndQuery::try_from(joined) {
            Ok(path) => Ok((self.origin.clone(), path)),
            // Characters a request line cannot carry as they are (spaces, quotes, non-ASCII):
            // percent-encoded the way a URL parser does.
            Err(_) => {
                let full = format!(
                    "http://x{}{}{url}",
                    self.prefix,
                    if url.starts_with('/') { "" } else { "/" }
                );
                let parsed = reqwest::Url::parse(&full).map_err(|e| format!("`{url}`: {e}"))?;
                Ok((self.origin.clone(), path_of(&parsed)?))
            }
        }
    }
}

/// One request of the scenario, prepared.
#[derive(Debug)]
pub(crate) struct Prepared {
    method: http::Method,
    url: UrlPlan,
    /// Defaults and the headers whose final value is fixed.
    headers: HeaderMap,
    /// Headers whose final value is templated, in order.
    rendered: Vec<(HeaderName, Template)>,
    body: BodyPlan,
    /// Set when nothing is templated: sent as is.
    fixed: Option<Outgoing>,
    /// A header that can never be sent (its name or fixed value is invalid): every request
    /// fails with this message.
    invalid: Option<String>,
    /// Checks or captures read the body.
    pub(crate) keep_body: bool,
}

#[derive(Debug)]
enum UrlPlan {
    Fixed(Arc<Origin>, PathAndQuery),
    Rendered(Template),
}

#[derive(Debug)]
enum BodyPlan {
    Fixed(Bytes),
    Json(Template),
    Form(Vec<(String, Template)>),
    Raw(Template),
}

impl Prepared {
    /// Prepare `spec` of a scenario aimed at `target`.
    pub(crate) fn new(
        spec: &RequestSpec,
        target: &Target,
        base: &Base,
        vars: &VarTable,
    ) -> Result<Self, String> {
        let method = match spec.method {
            HttpMethod::Get => http::Method::GET,
            HttpMethod::Post => http::Method::POST,
            HttpMethod::Put => http::Method::PUT,
            HttpMethod::Patch => http::Method::PATCH,
            HttpMethod::Delete => http::Method::DELETE,
            HttpMethod::Head => http::Method::HEAD,
            HttpMethod::Options => http::Method::OPTIONS,
        };
        let url = match literal(&spec.url, vars) {
            Some(text) => {
                let (origin, path) = base.resolve(&text)?;
                UrlPlan::Fixed(origin, path)
            }
            None => UrlPlan::Rendered(spec.url.clone()),
        };
        let mut headers = HeaderMap::new();
        headers.insert(
            USER_AGENT,
            HeaderValue::from_static(concat!("kneepoint/", env!("CARGO_PKG_VERSION"))),
        );
        headers.insert(ACCEPT, HeaderValue::from_static("*/*"));
        let mut rendered: Vec<(HeaderName, Template)> = Vec::new();
        let mut invalid = None;
        // A header's final value is its last occurrence: the target's, then the request's.
        for (name, value) in target.headers.iter().chain(&spec.headers) {
            let Ok(name) = HeaderName::from_bytes(name.as_bytes()) else {
                invalid.get_or_insert(format!("`{name}` is not a valid header name"));
                continue;
            };
            rendered.retain(|(n, _)| *n != name);
            headers.remove(&name);
            match literal(value, vars) {
                Some(text) => match HeaderValue::from_str(&text) {
                    Ok(v) => {
                        headers.insert(name, v);
                    }
                    Err(_) => {
                        invalid.get_or_insert(format!(
                            "header `{name}` has a value that is not valid: `{text}`"
                        ));
                    }
                },
                None => rendered.push((name, value.clone())),
            }
        }
        let content_type = match &spec.body {
            Some(Body::Json(_)) => Some("application/json"),
            Some(Body::Form(_)) => Some("application/x-www-form-urlencoded"),
            _ => None,
        };
        if let Some(ct) = content_type
            && !headers.contains_key(CONTENT_TYPE)
            && !rendered.iter().any(|(n, _)| *n == CONTENT_TYPE)
        {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(ct));
        }
        let body = match &spec.body {
            None => BodyPlan::Fixed(Bytes::new()),
            Some(Body::Json(t) | Body::Raw(t)) if t.is_literal() => {
                BodyPlan::Fixed(Bytes::from(literal(t, vars).unwrap_or_default()))
            }
            Some(Body::Json(t)) => BodyPlan::Json(t.clone()),
            Some(Body::Raw(t)) => BodyPlan::Raw(t.clone()),
            Some(Body::Form(fields)) => {
                let fixed: Option<Vec<(&str, String)>> = fields
                    .iter()
                    .map(|(k, v)| literal(v, vars).map(|v| (k.as_str(), v)))
                    .collect();
                match fixed {
                    Some(pairs) => BodyPlan::Fixed(Bytes::from(form(
                        pairs.iter().map(|(k, v)| (*k, v.as_str())),
                    ))),
                    None => BodyPlan::Form(fields.clone()),
                }
            }
        };
        let keep_body = spec.checks.iter().any(|c| {
            matches!(
                c,
                Check::BodyContains(_) | Check::JsonEquals { .. } | Check::JsonExists { .. }
            )
        }) || spec.captures.iter().any(|c| {
            matches!(
                c.source,
                CaptureSource::JsonPath { .. } | CaptureSource::Regex(_)
            )
        });
        let fixed = match (&url, &body, rendered.is_empty(), &invalid) {
            (UrlPlan::Fixed(origin, path), BodyPlan::Fixed(body), true, None) => Some(Outgoing {
                method: method.clone(),
                origin: origin.clone(),
                path: path.clone(),
                headers: headers.clone(),
                body: body.clone(),
            }),
            _ => None,
        };
        Ok(Self {
            method,
            url,
            headers,
            rendered,
            body,
            fixed,
            invalid,
            keep_body,
        })
    }

    /// The request to send for a user: as prepared, or with its templates rendered.
    pub(crate) fn render(
        &self,
        base: &Base,
        ctx: &RenderContext<'_>,
        vars: &VarTable,
    ) -> Result<Cow<'_, Outgoing>, String> {
        if let Some(fixed) = &self.fixed {
            return Ok(Cow::Borrowed(fixed));
        }
        if let Some(invalid) = &self.invalid {
            return Err(invalid.clone());
        }
        let (origin, path) = match &self.url {
            UrlPlan::Fixed(origin, path) => (origin.clone(), path.clone()),
            UrlPlan::Rendered(t) => {
                base.resolve(&t.render(ctx, vars).map_err(|e| e.to_string())?)?
            }
        };
        let mut headers = self.headers.clone();
        for (name, template) in &self.rendered {
            let value = template.render(ctx, vars).map_err(|e| e.to_string())?;
            let value = HeaderValue::from_str(&value)
                .map_err(|_| format!("header `{name}` has a value that is not valid: `{value}`"))?;
            headers.insert(name.clone(), value);
        }
        let body = match &self.body {
            BodyPlan::Fixed(b) => b.clone(),
            BodyPlan::Json(t) | BodyPlan::Raw(t) => {
                Bytes::from(t.render(ctx, vars).map_err(|e| e.to_string())?)
            }
            BodyPlan::Form(fields) => {
                let mut pairs = Vec::with_capacity(fields.len());
                for (k, v) in fields {
                    pairs.push((k.as_str(), v.render(ctx, vars).map_err(|e| e.to_string())?));
                }
                Bytes::from(form(pairs.iter().map(|(k, v)| (*k, v.as_str()))))
            }
        };
        Ok(Cow::Owned(Outgoing {
            method: self.method.clone(),
            origin,
            path,
            headers,
            body,
        }))
    }
}

/// The text of a template without placeholders.
fn literal(t: &Template, vars: &VarTable) -> Option<String> {
    let ctx = RenderContext {
        vars: &[],
        user: 0,
        iteration: 0,
    };
    t.is_literal().then(|| t.render(&ctx, vars).ok()).flatten()
}

/// `application/x-www-form-urlencoded` text of the pairs.
fn form<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        out.append_pair(k, v);
    }
    out.finish()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::template::Escape;

    fn target(headers: &[(&str, &str)], vars: &VarTable) -> Target {
        Target {
            base_url: "http://127.0.0.1:8080/api/".into(),
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), template(v, vars)))
                .collect(),
            timeout: Duration::from_secs(5),
            metrics_url: None,
            reference: false,
        }
    }

    fn no_values() -> RenderContext<'static> {
        RenderContext {
            vars: &[],
            user: 0,
            iteration: 0,
        }
    }

    fn template(text: &str, vars: &VarTable) -> Template {
        Template::parse(text, vars, Escape::None).expect("a template")
    }

    fn spec(
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Body>,
        vars: &VarTable,
    ) -> RequestSpec {
        RequestSpec {
            name: "r".into(),
            method: HttpMethod::Post,
            url: template(path, vars),
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), template(v, vars)))
                .collect(),
            body,
            checks: vec![],
            captures: vec![],
            think_time: None,
        }
    }

    fn render(p: &Prepared, base: &Base, vars: &VarTable, values: &[Option<String>]) -> Outgoing {
        let ctx = RenderContext {
            vars: values,
            user: 7,
            iteration: 0,
        };
        p.render(base, &ctx, vars).expect("renders").into_owned()
    }

    #[test]
    fn a_request_without_templates_is_sent_as_prepared() {
        let vars = VarTable::default();
        let t = target(&[("x-team", "a")], &vars);
        let base = Base::new(&t.base_url).expect("base");
        let body = Some(Body::Json(template("{\"n\":1}", &vars)));
        let p = Prepared::new(&spec("/items", &[], body, &vars), &t, &base, &vars).expect("ok");
        let ctx = no_values();
        let out = p.render(&base, &ctx, &vars).expect("renders");
        assert!(
            matches!(out, Cow::Borrowed(_)),
            "no copy for a fixed request"
        );
        assert_eq!(out.path.as_str(), "/api/items");
        assert_eq!(out.method, http::Method::POST);
        assert_eq!(&out.body[..], b"{\"n\":1}");
        assert_eq!(out.headers["content-type"], "application/json");
        assert_eq!(out.headers["x-team"], "a");
        assert!(
            out.headers["user-agent"]
                .to_str()
                .expect("text")
                .starts_with("kneepoint/")
        );
    }

    #[test]
    fn templated_parts_render_per_user_and_the_last_header_of_a_name_wins() {
        let mut vars = VarTable::default();
        let token = vars.slot("token");
        let t = target(&[("authorization", "none"), ("x-fixed", "1")], &vars);
        let base = Base::new(&t.base_url).expect("base");
        let fields = vec![
            ("who".to_owned(), template("u{{user}}", &vars)),
            ("note".to_owned(), template("a b&c", &vars)),
        ];
        let s = spec(
            "/users/{{user}}/cart",
            &[
                ("authorization", "Bearer {{token}}"),
                ("content-type", "text/x-form"),
            ],
            Some(Body::Form(fields)),
            &vars,
        );
        let p = Prepared::new(&s, &t, &base, &vars).expect("ok");
        let mut values = vec![None; vars.len()];
        values[token] = Some("T1".into());
        let out = render(&p, &base, &vars, &values);
        assert_eq!(out.path.as_str(), "/api/users/7/cart");
        assert_eq!(out.headers["authorization"], "Bearer T1");
        assert_eq!(out.headers.get_all("authorization").iter().count(), 1);
        assert_eq!(out.headers["x-fixed"], "1");
        // The scenario's own content type is kept.
        assert_eq!(out.headers["content-type"], "text/x-form");
        assert_eq!(&out.body[..], b"who=u7&note=a+b%26c");
        // A variable without a value fails the request, naming it.
        let ctx = RenderContext {
            vars: &[None],
            user: 0,
            iteration: 0,
        };
        let err = p.render(&base, &ctx, &vars).expect_err("no token yet");
        assert!(err.contains("token"), "{err}");
    }

    #[test]
    fn paths_are_joined_to_the_base_and_encoded_when_they_must_be() {
        let vars = VarTable::default();
        let t = target(&[], &vars);
        let base = Base::new(&t.base_url).expect("base");
        let (origin, path) = base.resolve("/a b/ü?q=x y").expect("resolves");
        assert_eq!(path.as_str(), "/api/a%20b/%C3%BC?q=x%20y");
        assert!(Arc::ptr_eq(&origin, &base.origin));
        let (origin, path) = base.resolve("https://example.com/x").expect("resolves");
        assert_eq!(path.as_str(), "/x");
        assert_eq!(
            *origin,
            Origin::split("https://example.com:443/").expect("a URL").0
        );
        let (same, _) = base
            .resolve("http://127.0.0.1:8080/other")
            .expect("resolves");
        assert!(
            Arc::ptr_eq(&same, &base.origin),
            "the base's origin is shared, not copied"
        );
    }

    #[test]
    fn an_invalid_fixed_header_fails_every_request_with_its_reason() {
        let vars = VarTable::default();
        let t = target(&[("x-bad", "a\nb")], &vars);
        let base = Base::new(&t.base_url).expect("base");
        let p = Prepared::new(&spec("/", &[], None, &vars), &t, &base, &vars).expect("prepared");
        let ctx = no_values();
        let err = p.render(&base, &ctx, &vars).expect_err("cannot be sent");
        assert!(err.contains("x-bad"), "{err}");
    }
}
