// Runs once, on the first start of an empty data volume (the official image's
// /docker-entrypoint-initdb.d mechanism, against the temporary mongod it starts before auth is on).
// Creates the application's user with the least privileges it needs, collection by collection, from
// app-role.json: no remove on infracciones (legal records), only find and insert on auditoria (the
// append-only trail), and nothing outside the application's database. To apply a changed
// app-role.json to an existing volume, run this file again with mongosh as the root user: it
// updates the role.
const fs = require("fs");
const dbName = process.env.MONGO_APP_DATABASE || "transito";
const user = process.env.MONGO_APP_USERNAME;
const pwd = process.env.MONGO_APP_PASSWORD;
if (!user || !pwd) {
  throw new Error("MONGO_APP_USERNAME and MONGO_APP_PASSWORD must be set");
}
const definition = JSON.parse(fs.readFileSync("/opt/transito/app-role.json", "utf8"));
const privileges = [
  { resource: { db: dbName, collection: "" }, actions: definition.database_actions },
  ...Object.entries(definition.collections).map(([collection, actions]) => ({
    resource: { db: dbName, collection: collection },
    actions: actions,
  })),
];
const appDb = db.getSiblingDB(dbName);
if (appDb.getRole("transitoApp")) {
  appDb.updateRole("transitoApp", { privileges: privileges, roles: [] });
  print("updated the role transitoApp");
} else {
  appDb.createRole({ role: "transitoApp", privileges: privileges, roles: [] });
}
if (!appDb.getUser(user)) {
  appDb.createUser({ user: user, pwd: pwd, roles: [{ role: "transitoApp", db: dbName }] });
  print(`created the application user ${user} on ${dbName}`);
}
