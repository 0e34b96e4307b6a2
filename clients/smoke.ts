// What a county front-end writes on day one, against the types generated from the
// gateway's /openapi.json (generated/api.d.ts). tsc checks it; nothing here runs.
import createClient from "openapi-fetch";
import type { components, paths } from "./generated/api";

type Schemas = components["schemas"];
export type PersonnelIn = Schemas["PersonnelIn"];
export type PersonnelOut = Schemas["PersonnelOut"];
export type Problem = Schemas["Problem"];

export function rosterClient(baseUrl: string, token: string) {
  return createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${token}` } });
}

/** A county, a rule that gives it seats, one auxiliary, and the roster of that county. */
export async function firstDay(baseUrl: string, token: string): Promise<PersonnelOut[]> {
  const api = rosterClient(baseUrl, token);
  const region = await api.PUT("/api/v1/roster/regions/{code}", {
    params: { path: { code: "371399" } },
    body: { name: "示范县", population: 500000, police_establishment: 200, year: 2026 },
  });
  if (region.error) throw problem(region.error);
  const level: Schemas["RegionOut"]["level"] = region.data.level;

  const basis: Schemas["Basis"] = "fixed";
  const rule = await api.POST("/api/v1/roster/quota-rules", {
    body: {
      region_prefix: "371399",
      basis,
      value: "10",
      post_categories: ["patrol"],
      effective_from: "2026-01-01",
    },
  });
  if (rule.error) throw problem(rule.error);

  const education: Schemas["Education"] = "junior_college";
  const person: PersonnelIn = {
    id_number: "371327199001011237",
    name: "张伟",
    region: "371399",
    unit: "城关派出所",
    post_category: "duty",
    post: "patrol",
    education,
    hire_date: "2026-03-01",
  };
  const created = await api.POST("/api/v1/roster/personnel", {
    body: person,
    headers: { "Idempotency-Key": "first-day-1" },
  });
  if (created.error) throw problem(created.error);
  const status: Schemas["Status"] = created.data.status;

  const page = await api.GET("/api/v1/roster/personnel", {
    params: { query: { region: "371399", status: ["probation", "active"], limit: 100 } },
  });
  if (page.error) throw problem(page.error);
  const next: string | null = page.data.next_cursor;
  void level;
  void status;
  void next;
  return page.data.items;
}

function problem(p: Problem): Error {
  return new Error(`${p.status} ${p.code}: ${p.detail ?? p.title}`);
}

// The types are strict: these lines must not compile (tsc fails if they do).
// @ts-expect-error "bachelor" is not an Education
export const notAnEducation: Schemas["Education"] = "phd";
// @ts-expect-error a region is created with PUT, not POST
export const noSuchRoute: paths["/api/v1/roster/regions/{code}"]["post"]["requestBody"] = {};
export const withoutName: Omit<PersonnelIn, "name"> = {
  id_number: "371327199001011237",
  region: "371327",
  unit: "城关派出所",
  post_category: "duty",
  post: "patrol",
  education: "bachelor",
  hire_date: "2026-03-01",
};
// @ts-expect-error `name` is required
export const incomplete: PersonnelIn = withoutName;
