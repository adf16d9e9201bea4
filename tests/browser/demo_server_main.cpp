// cardbureau_http_demo_server: `cardbureau dashboard-demo` as its own binary,
// so the browser test does not depend on the main executable's wiring.
#include "cardbureau/http/commands.h"

int main(int argc, char** argv) { return cardbureau::http::RunDashboardDemo(argc, argv); }
