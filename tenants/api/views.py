"""/members: list, add, change role, remove (never the last owner); /auth/me with the memberships."""

import re

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.serializers import UserSerializer
from imagefactory.core.api import paginate
from imagefactory.core.errors import NotFound
from imagefactory.core.schema import ERROR_RESPONSES, PAGINATION_PARAMETERS, page_of
from tenants import roles, services
from tenants.api import examples
from tenants.api.serializers import (
    MemberCreateSerializer,
    MemberSerializer,
    MemberUpdateSerializer,
    MeSerializer,
)
from tenants.selectors import members_of, memberships_of

MEMBER_PAGE = page_of(MemberSerializer, key="members", name="MemberList")
MAX_MEMBER_ID = 2**63 - 1
MEMBER_ID = OpenApiParameter(
    "member_id",
    {"type": "integer", "minimum": 1, "maximum": MAX_MEMBER_ID},
    OpenApiParameter.PATH,
    description="Membership ID (`id` in the member list)",
)


class MemberListView(APIView):
    required_permissions = {"GET": roles.MEMBER_LIST, "POST": roles.MEMBER_MANAGE}

    @extend_schema(
        parameters=PAGINATION_PARAMETERS,
        responses={200: MEMBER_PAGE, **ERROR_RESPONSES},
        tags=["Members"],
        operation_id="listMembers",
        summary="List the tenant's members",
        examples=examples.LIST_MEMBERS,
    )
    def get(self, request):
        page = paginate(members_of(request.tenant), request)
        return Response(page.envelope("members", MemberSerializer(page.items, many=True).data))

    @extend_schema(
        request=MemberCreateSerializer,
        responses={201: MemberSerializer, **ERROR_RESPONSES},
        tags=["Members"],
        operation_id="addMember",
        summary="Add a registered user to the tenant with a role",
        examples=examples.ADD_MEMBER,
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
        # Digits only and within the column's range, as MEMBER_ID says; anything else is no member.
        membership = None
        if re.fullmatch(r"[0-9]{1,19}", member_id) and int(member_id) <= MAX_MEMBER_ID:
            membership = members_of(request.tenant).filter(pk=int(member_id)).first()
        if membership is None:
            raise NotFound("Member not found")
        return membership

    @extend_schema(
        parameters=[MEMBER_ID],
        responses={200: MemberSerializer, **ERROR_RESPONSES},
        tags=["Members"],
        operation_id="getMember",
        summary="Get a member",
        examples=examples.GET_MEMBER,
    )
    def get(self, request, member_id: str):
        return Response(MemberSerializer(self._membership(request, member_id)).data)

    @extend_schema(
        parameters=[MEMBER_ID],
        request=MemberUpdateSerializer,
        responses={200: MemberSerializer, **ERROR_RESPONSES},
        tags=["Members"],
        operation_id="updateMember",
        summary="Change a member's role",
        examples=examples.UPDATE_MEMBER,
    )
    def patch(self, request, member_id: str):
        membership = self._membership(request, member_id)  # 404 before 400, like /projects/{id}
        data = MemberUpdateSerializer.validated(request.data)
        membership = services.change_member_role(
            membership=membership, role_name=data["role"], actor_permissions=request.tenant_access.permissions
        )
        return Response(MemberSerializer(membership).data)

    @extend_schema(
        parameters=[MEMBER_ID],
        responses={204: None, **ERROR_RESPONSES},
        tags=["Members"],
        operation_id="removeMember",
        summary="Remove a member (never the last owner)",
    )
    def delete(self, request, member_id: str):
        services.remove_member(
            membership=self._membership(request, member_id), actor_permissions=request.tenant_access.permissions
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(APIView):
    """GET /auth/me: the user and the tenants they belong to. Here, not in accounts, because
    memberships are the tenants app's concept (accounts sits below tenants)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        responses={200: MeSerializer, **ERROR_RESPONSES},
        tags=["Auth"],
        operation_id="getCurrentUser",
        summary="The current user and the tenants they belong to",
        examples=examples.ME,
    )
    def get(self, request):
        # A plain dict: `memberships` is also the reverse relation on User and cannot be assigned.
        me = {**UserSerializer(request.user).data, "memberships": memberships_of(request.user)}
        return Response(MeSerializer(me).data)
