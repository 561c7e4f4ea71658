// Validates Backstage entity files with Backstage's own validators: the catalog's entity
// policies (envelope, schema, field formats) plus the kind's schema (Component from
// @backstage/catalog-model, Template v1beta3 from @backstage/plugin-scaffolder-common).
// Usage: node validate.mjs FILE...; prints one line per file, exits 1 on any error.
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";
import * as catalog from "@backstage/catalog-model";
import { templateEntityV1beta3Validator } from "@backstage/plugin-scaffolder-common";

const policies = catalog.EntityPolicies.allOf([
  new catalog.DefaultNamespaceEntityPolicy(),
  new catalog.NoForeignRootFieldsEntityPolicy(),
  new catalog.FieldFormatEntityPolicy(),
  new catalog.SchemaValidEntityPolicy(),
]);
const kindValidators = {
  Component: catalog.componentEntityV1alpha1Validator,
  Template: templateEntityV1beta3Validator,
};

let failed = false;
for (const file of process.argv.slice(2)) {
  for (const document of parseAllDocuments(readFileSync(file, "utf8"))) {
    try {
      if (document.errors.length) throw new Error(document.errors.join("; "));
      const entity = await policies.enforce(document.toJS());
      const validator = kindValidators[entity.kind];
      if (!validator) throw new Error(`no validator for kind ${entity.kind}`);
      if (!(await validator.check(entity))) throw new Error(`not a ${entity.apiVersion} ${entity.kind}`);
      console.log(`ok ${file}: ${entity.kind} ${entity.metadata.name}`);
    } catch (error) {
      failed = true;
      console.log(`error ${file}: ${error.message}`);
    }
  }
}
process.exit(failed ? 1 : 0);
