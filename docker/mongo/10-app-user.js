// Runs once, on the first start of an empty data volume (the official image's
// /docker-entrypoint-initdb.d mechanism, against the temporary mongod it starts before auth is on).
// Creates the application's user with the least privileges it needs: readWrite on the application's
// database plus collMod there (to update the $jsonSchema validators at start-up; readWrite lacks it).
// Nothing outside that database.
const dbName = process.env.MONGO_APP_DATABASE || "transito";
const user = process.env.MONGO_APP_USERNAME;
const pwd = process.env.MONGO_APP_PASSWORD;
if (!user || !pwd) {
  throw new Error("MONGO_APP_USERNAME and MONGO_APP_PASSWORD must be set");
}
const appDb = db.getSiblingDB(dbName);
if (!appDb.getRole("appCollMod")) {
  appDb.createRole({
    role: "appCollMod",
    privileges: [{ resource: { db: dbName, collection: "" }, actions: ["collMod"] }],
    roles: [],
  });
}
if (!appDb.getUser(user)) {
  appDb.createUser({
    user: user,
    pwd: pwd,
    roles: [{ role: "readWrite", db: dbName }, { role: "appCollMod", db: dbName }],
  });
  print(`created the application user ${user} on ${dbName}`);
}
