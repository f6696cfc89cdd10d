"""/members: list, add, change role, remove (never the last owner); /auth/me with the memberships."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.serializers import UserSerializer
from imagefactory.core.api import paginate
from imagefactory.core.errors import NotFound
from imagefactory.core.schema import ERROR_RESPONSES, PAGINATION_PARAMETERS, page_of
from tenants import roles, services
from tenants.api.serializers import (
    MemberCreateSerializer,
    MemberSerializer,
    MemberUpdateSerializer,
    MeSerializer,
)
from tenants.selectors import members_of, memberships_of

MEMBER_PAGE = page_of(MemberSerializer, key="members", name="MemberList")


class MemberListView(APIView):
    required_permissions = {"GET": roles.MEMBER_LIST, "POST": roles.MEMBER_MANAGE}

    @extend_schema(parameters=PAGINATION_PARAMETERS, responses={200: MEMBER_PAGE, **ERROR_RESPONSES}, tags=["Members"])
    def get(self, request):
        page = paginate(members_of(request.tenant), request)
        return Response(page.envelope("members", MemberSerializer(page.items, many=True).data))

    @extend_schema(
        request=MemberCreateSerializer, responses={201: MemberSerializer, **ERROR_RESPONSES}, tags=["Members"]
    )
    def post(self, request):
        data = MemberCreateSerializer.validated(request.data)
        membership = services.add_member(
            tenant=request.tenant,
            email=data["email"],
            role_name=data["role"],
            actor_permissions=request.tenant_access.permissions,
        )
        return Response(MemberSerializer(membership).data, status=status.HTTP_201_CREATED)


class MemberDetailView(APIView):
    required_permissions = {"GET": roles.MEMBER_LIST, "PATCH": roles.MEMBER_MANAGE, "DELETE": roles.MEMBER_MANAGE}

    def _membership(self, request, member_id: str):
        try:
            return members_of(request.tenant).get(pk=int(member_id))
        except (ValueError, OverflowError):
            raise NotFound("Member not found") from None
        except members_of(request.tenant).model.DoesNotExist:
            raise NotFound("Member not found") from None

    @extend_schema(responses={200: MemberSerializer, **ERROR_RESPONSES}, tags=["Members"])
    def get(self, request, member_id: str):
        return Response(MemberSerializer(self._membership(request, member_id)).data)

    @extend_schema(
        request=MemberUpdateSerializer, responses={200: MemberSerializer, **ERROR_RESPONSES}, tags=["Members"]
    )
    def patch(self, request, member_id: str):
        membership = self._membership(request, member_id)  # 404 before 400, like /projects/{id}
        data = MemberUpdateSerializer.validated(request.data)
        membership = services.change_member_role(
            membership=membership, role_name=data["role"], actor_permissions=request.tenant_access.permissions
        )
        return Response(MemberSerializer(membership).data)

    @extend_schema(responses={204: None, **ERROR_RESPONSES}, tags=["Members"])
    def delete(self, request, member_id: str):
        services.remove_member(
            membership=self._membership(request, member_id), actor_permissions=request.tenant_access.permissions
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(APIView):
    """GET /auth/me: the user and the tenants they belong to. Here, not in accounts, because
    memberships are the tenants app's concept (accounts sits below tenants)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: MeSerializer, **ERROR_RESPONSES}, tags=["Auth"])
    def get(self, request):
        # A plain dict: `memberships` is also the reverse relation on User and cannot be assigned.
        me = {**UserSerializer(request.user).data, "memberships": memberships_of(request.user)}
        return Response(MeSerializer(me).data)
