"""One APIRouter per resource; create_app includes them in the order the routes are matched."""
